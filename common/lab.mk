# common/lab.mk: the build rules every lab shares.
#
# A lab's Makefile names its programs and includes this file:
#
#	PROGRAMS = server client
#	include ../common/lab.mk
#
# Each program is compiled in one step from its own NAME.c and the sources of common/, so a
# student can read the whole build in the command make prints.
#
# Standard variables (CC, CFLAGS, CPPFLAGS, LDFLAGS, LDLIBS) are yours to set on the command
# line; the flags the project needs are kept apart in IOM_* and always added.
#	WERROR=1	turn warnings into errors (CI sets it)
#	SANITIZE=1	build with AddressSanitizer + UndefinedBehaviorSanitizer

COMMON	:= $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

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

ALL_CPPFLAGS	= $(IOM_CPPFLAGS) $(CPPFLAGS)
ALL_CFLAGS	= $(IOM_CFLAGS) $(CFLAGS)
ALL_LDFLAGS	= $(IOM_LDFLAGS) $(LDFLAGS)
ALL_LDLIBS	= $(LDLIBS) $(IOM_LDLIBS)

COMMON_SRC	:= $(wildcard $(COMMON)/*.c)
COMMON_HDR	:= $(wildcard $(COMMON)/*.h)

# The programs are rebuilt whenever the compiler or the flags change (make SANITIZE=1, then
# plain make): the command line is recorded in .build-flags, rewritten only when it differs.
BUILD_LINE	= $(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(ALL_LDLIBS)

all: $(PROGRAMS)

$(PROGRAMS): %: %.c $(COMMON_SRC) $(COMMON_HDR) .build-flags
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(COMMON_SRC) $(ALL_LDLIBS)

.build-flags: FORCE
	@echo '$(BUILD_LINE)' | cmp -s - $@ || echo '$(BUILD_LINE)' > $@

clean:
	rm -f $(PROGRAMS) .build-flags

.PHONY: all clean FORCE
