# iomodels - every target a user types (see README.md and docs/README.md).
#
#	make			build every lab (and bench/loadgen)
#	make 03-select		build one lab and point ./server and ./client at it
#	make select, make 03	the same, by short name or number (make 03-select/ too)
#	make test		build, then run the bats suite (bats tests/)
#	make sanitize		build with ASan+UBSan, run the suite against that build, then
#				rebuild the normal build
#	make trace LAB=select	the syscalls that show a lab's model, under strace (LAB takes
#				the same names as make)
#	make bench		every lab under bench/loadgen: docs/results.md (QUICK=1 OUT=FILE: the
#				short run, into FILE; LABS="03 05": some labs)
#	make clean
#	make help		the targets and the labs
#
# Standard variables pass through to every lab: make CC=clang CFLAGS=-O0, make WERROR=1.

LABS	:= $(sort $(patsubst %/Makefile,%,$(wildcard [0-9][0-9]-*/Makefile)))
# make bench LABS="03 05" names the labs to measure, not the labs that exist.
ifeq ($(origin LABS),command line)
BENCH_LABS := $(LABS)
override LABS := $(sort $(patsubst %/Makefile,%,$(wildcard [0-9][0-9]-*/Makefile)))
endif
BATS	?= bats
LAB	?=

# 03-select -> "select" and "03"
short_name = $(patsubst $(firstword $(subst -, ,$(1)))-%,%,$(1))
number = $(firstword $(subst -, ,$(1)))
# The lab a name means, as make takes it (03-select, 03-select/, select, 03); empty if none.
lab_named = $(firstword $(foreach l,$(LABS),$(if $(filter $(patsubst %/,%,$(1)),\
	$(l) $(call short_name,$(l)) $(call number,$(l))),$(l))))

# make -s hides the commands make shows, but not an echo: the messages follow -s too.
SILENT	= $(findstring s,$(firstword -$(MAKEFLAGS)))

# Under make -j the labs build at once: -O keeps each lab's lines together, under its name.
# Only here: elsewhere it would hold back the suite's output until the suite ends.
all:
	@$(MAKE) --no-print-directory -Orecurse every-lab

every-lab: $(addprefix build-,$(LABS)) build-bench

build-%: FORCE
	@$(MAKE) --no-print-directory -C $*

# make NN-name (or name, or NN, or NN-name/ as tab completion leaves it): build that lab,
# then link ./server and ./client to it.
define lab_target
$(1) $(1)/ $(call short_name,$(1)) $(call number,$(1)): build-$(1)
	@ln -sfn $(1)/server server
	@ln -sfn $(1)/client client
	@echo "./server and ./client are now $(1) (read docs/$(1).md)"
.PHONY: $(1) $(1)/ $(call short_name,$(1)) $(call number,$(1))
endef
$(foreach lab,$(LABS),$(eval $(call lab_target,$(lab))))

test: all
	@$(call need_bats)
	$(BATS) tests/

# The suite runs on the sanitizer build: SANITIZE=1 in its environment makes the helpers
# build with the same flags, so they rebuild nothing. Then, pass or fail, the normal build is
# put back, or ./server would silently stay the slower ASan build; make fails if the suite
# did. bats is checked first, so a missing bats leaves no sanitizer build behind.
sanitize:
	@$(call need_bats)
	@status=0; \
	$(MAKE) --no-print-directory SANITIZE=1 all && \
	{ $(if $(SILENT),,echo 'SANITIZE=1 $(BATS) tests/';) SANITIZE=1 $(BATS) tests/; } || status=$$?; \
	echo "make sanitize: rebuilding the normal build (the labs were the sanitizer build)"; \
	$(MAKE) --no-print-directory -s SANITIZE=0 all || exit 1; \
	exit $$status

# LAB takes every name `make NAME` takes; only that lab is built (if it needs to be).
TRACE_LAB = $(call lab_named,$(LAB))
trace:
	@test -n '$(LAB)' || { echo "usage: make trace LAB=NN-name, short name or number" \
		"(labs: $(LABS))"; exit 2; }
	@test -n '$(TRACE_LAB)' || { tools/lab-suggest.sh '$(LAB)' $(LABS); exit 2; }
	@$(MAKE) --no-print-directory -C $(TRACE_LAB)
	@tools/trace.sh $(TRACE_LAB)

# make bench: every lab under bench/loadgen, one table (bench/bench.sh says how); QUICK=1,
# OUT=FILE and LABS="03 05" (BENCH_LABS, above) pass through.
bench bench/: all
	@bench/bench.sh $(if $(filter-out 0,$(QUICK)),-q) $(if $(OUT),-o '$(OUT)') \
		$(if $(BENCH_LABS),-l '$(BENCH_LABS)')

# The tree's other directories are not targets either: make tests, make docs/ get the
# unknown-target answer (which suggests make test), not "is up to date".
DIRS	:= $(filter-out $(LABS) bench,$(patsubst %/,%,$(wildcard */)))
$(DIRS) $(addsuffix /,$(DIRS)):
	@tools/lab-suggest.sh '$@' $(LABS); exit 2

# The test fixtures (tests/tools, when there) have their own Makefile and are cleaned too.
CLEAN_DIRS = $(LABS) bench $(patsubst %/Makefile,%,$(wildcard tests/tools/Makefile))
clean:
	@for d in $(CLEAN_DIRS); do $(MAKE) --no-print-directory -C $$d clean || exit 1; done
	@if [ -L server ] || [ -L client ]; then \
		$(if $(SILENT),:,echo "removing the links ./server and ./client"); fi
	@rm -f server client

help:
	@echo "make                  build every lab and bench/loadgen"
	@echo "make LAB              build one lab and point ./server and ./client at it"
	@echo "make test             build, then run the test suite (bats tests/)"
	@echo "make sanitize         the suite on an ASan+UBSan build, then the normal build again"
	@echo "make trace LAB=LAB    the lab's server under strace while its client echoes"
	@echo "make bench            measure every lab (QUICK=1 OUT=FILE: a few minutes; LABS=\"03 05\")"
	@echo "make clean            remove what was built"
	@echo "make help             this list"
	@echo "Variables: CC=clang, CFLAGS=..., WERROR=1 (warnings are errors), SANITIZE=1"
	@echo "           (ASan+UBSan), SANITIZE=thread (ThreadSanitizer, for 08-threaded)."
	@echo "In a lab directory, make builds that lab and make NAME any NAME.c there."
	@echo "Labs, each by any of three names (make 03-select, make select, make 03):"
	@$(foreach l,$(LABS),$(call help_lab,$(l)))

help_lab = printf '    %-16s %-12s %s\n' $(1) $(call short_name,$(1)) $(call number,$(1));

need_bats = command -v $(BATS) >/dev/null 2>&1 || { \
	echo "make: bats (bats-core) is not installed. Install it with one of:"; \
	echo "    sudo apt-get install bats    (Debian, Ubuntu)"; \
	echo "    brew install bats-core       (macOS)"; \
	echo "    npm install -g bats          (anywhere with Node.js)"; \
	exit 127; }

# Anything else is a mistyped lab name or target: list the labs and suggest the closest one.
.DEFAULT:
	@tools/lab-suggest.sh '$@' $(LABS); exit 2

Makefile: ;

.PHONY: all every-lab test sanitize trace bench bench/ clean help FORCE
.PHONY: $(DIRS) $(addsuffix /,$(DIRS))
