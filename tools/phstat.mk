# tools/phstat.mk -- phstat(1), installed with the library.  It links the
# engine's internals (libphinternal, a convenience library, so the
# installed program needs no library of its own) to run the library's own
# validators and statistics on its private copy of a heap.
bin_PROGRAMS += tools/phstat
tools_phstat_SOURCES = tools/phstat.c tools/phstat.h tools/snapshot.c \
	tools/snapshot.h tools/svg.c
tools_phstat_CPPFLAGS = $(AM_CPPFLAGS) -DPH_PREFIX=$(PH_PREFIX)
tools_phstat_LDADD = libphinternal.la
