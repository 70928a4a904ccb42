# test/house/local.mk -- checks of the source tree itself, not of the
# library's behaviour: names that comments and documents point at exist.
TESTS += test/house/check_names.sh
EXTRA_DIST += test/house/check_names.sh tools/check_names.py \
	tools/check_names.allow
