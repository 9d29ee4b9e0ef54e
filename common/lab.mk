# common/lab.mk: the build rules every lab shares.
#
# A lab's Makefile names its programs and includes this file:
#
#	PROGRAMS = server client
#	include ../common/lab.mk
#
# Each program is compiled in one step from its own NAME.c and the sources of common/, so a
# student can read the whole build in the command make prints. `make` builds PROGRAMS; any
# other NAME.c in the directory is built the same way by `make NAME` (an exercise's
# `cp client.c client-naive.c && make client-naive`), and `make clean` removes both.
#
# Standard variables (CC, CFLAGS, CPPFLAGS, LDFLAGS, LDLIBS) are yours to set on the command
# line; the flags the project needs are kept apart in IOM_* and always added.
#	WERROR=1	turn warnings into errors (CI sets it)
#	SANITIZE=1	build with AddressSanitizer + UndefinedBehaviorSanitizer
#	SANITIZE=thread	build with ThreadSanitizer (08-threaded: make 08-threaded SANITIZE=thread)

COMMON	:= $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
# The directory's name (03-select, bench): built from the top, every lab prints the same
# "cc ... -o server server.c", so the lab's name is said once before its commands.
LAB_DIR	:= $(notdir $(CURDIR))

CC	?= cc
CFLAGS	?= -O2 -g
LDLIBS	?=

IOM_CPPFLAGS	= -D_GNU_SOURCE -I$(COMMON)
IOM_CFLAGS	= -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
		  -Wmissing-prototypes -Wpointer-arith -Wwrite-strings -Wformat=2 \
		  -Wundef -Wvla
IOM_LDFLAGS	=
IOM_LDLIBS	= -pthread

ifeq ($(WERROR),1)
IOM_CFLAGS	+= -Werror
endif
ifeq ($(SANITIZE),1)
SANITIZER_FLAGS	?= -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=undefined
IOM_CFLAGS	+= $(SANITIZER_FLAGS)
IOM_LDFLAGS	+= $(SANITIZER_FLAGS)
endif
ifeq ($(SANITIZE),thread)
TSAN_FLAGS	?= -fsanitize=thread -fno-omit-frame-pointer
IOM_CFLAGS	+= $(TSAN_FLAGS)
IOM_LDFLAGS	+= $(TSAN_FLAGS)
endif

ALL_CPPFLAGS	= $(IOM_CPPFLAGS) $(CPPFLAGS)
ALL_CFLAGS	= $(IOM_CFLAGS) $(CFLAGS)
ALL_LDFLAGS	= $(IOM_LDFLAGS) $(LDFLAGS)
ALL_LDLIBS	= $(LDLIBS) $(IOM_LDLIBS)

COMMON_SRC	:= $(wildcard $(COMMON)/*.c)
COMMON_HDR	:= $(wildcard $(COMMON)/*.h)

# The programs are rebuilt whenever the compiler or the flags change (make SANITIZE=1, then
# plain make): the command line is recorded in .build-flags, rewritten only when it differs.
BUILD_LINE	= $(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(ALL_LDLIBS)

# Every NAME.c here is a program NAME; `make` alone builds only the PROGRAMS the lab lists.
OTHER_PROGRAMS	:= $(filter-out $(PROGRAMS),$(patsubst %.c,%,$(wildcard *.c)))

all: $(PROGRAMS)

# make -s hides the commands make shows, but not an echo: the lines below follow -s too.
SILENT	= $(findstring s,$(firstword -$(MAKEFLAGS)))
# "building 03-select" before the first command of this directory, and not again: the recipe
# is expanded just before it runs, so the eval marks the lab as announced. A lab's few
# programs are built one after the other even under make -j, so that line comes first (the
# labs themselves still build in parallel).
.NOTPARALLEL:
announce = $(if $(SILENT)$(announced),,$(eval announced := 1)@echo 'building $(LAB_DIR)')

$(PROGRAMS) $(OTHER_PROGRAMS): %: %.c $(COMMON_SRC) $(COMMON_HDR) .build-flags
	$(announce)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(COMMON_SRC) $(ALL_LDLIBS)

.build-flags: FORCE
	@echo '$(BUILD_LINE)' | cmp -s - $@ || echo '$(BUILD_LINE)' > $@

# One line per lab naming what goes, and none when nothing does: the same
# "rm -f server client .build-flags" once per directory did not say where.
BUILT	= $(wildcard $(PROGRAMS) $(OTHER_PROGRAMS))

clean:
	$(if $(SILENT),,$(if $(BUILT),@echo 'cleaning $(LAB_DIR): $(BUILT)'))
	@rm -f $(PROGRAMS) $(OTHER_PROGRAMS) .build-flags

.PHONY: all clean FORCE
