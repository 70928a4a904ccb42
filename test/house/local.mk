# test/house/local.mk -- checks of the source tree itself, not of the
# library's behaviour: names that comments and documents point at exist;
# no file calls a higher layer (on the objects of libphinternal.la, which
# `make` builds before `make check` runs the tests).
TESTS += test/house/check_names.sh test/house/check_layers.sh
EXTRA_DIST += test/house/check_names.sh tools/check_names.py \
	tools/check_names.allow test/house/check_layers.sh \
	tools/check_layers.py tools/layers.txt
