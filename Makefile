# iomodels - every target a user types (see README.md and docs/README.md).
#
#	make			build every lab (and bench/loadgen)
#	make 03-select		build one lab and point ./server and ./client at it
#	make select, make 03	the same, by short name or number
#	make test		build, then run the bats suite (bats tests/)
#	make sanitize		build with ASan+UBSan, then run the suite against that build
#	make trace LAB=03-select	the syscalls that show a lab's model, under strace
#	make clean
#
# Standard variables pass through to every lab: make CC=clang CFLAGS=-O0, make WERROR=1.

LABS	:= $(sort $(patsubst %/Makefile,%,$(wildcard [0-9][0-9]-*/Makefile)))
BATS	?= bats
LAB	?=

# 03-select -> "select" and "03"
short_name = $(patsubst $(firstword $(subst -, ,$(1)))-%,%,$(1))
number = $(firstword $(subst -, ,$(1)))

all: $(addprefix build-,$(LABS)) build-bench

build-%: FORCE
	@$(MAKE) --no-print-directory -C $*

# make NN-name (or name, or NN): build that lab, then link ./server and ./client to it.
define lab_target
$(1) $(call short_name,$(1)) $(call number,$(1)): build-$(1)
	@ln -sfn $(1)/server server
	@ln -sfn $(1)/client client
	@echo "./server and ./client are now $(1) (read docs/$(1).md)"
.PHONY: $(1) $(call short_name,$(1)) $(call number,$(1))
endef
$(foreach lab,$(LABS),$(eval $(call lab_target,$(lab))))

test: all
	@$(call need_bats)
	$(BATS) tests/

sanitize:
	@$(MAKE) --no-print-directory SANITIZE=1 all
	@$(call need_bats)
	SANITIZE=1 $(BATS) tests/

trace: all
	@test -n "$(LAB)" || { echo "usage: make trace LAB=NN-name (labs: $(LABS))"; exit 2; }
	@tools/trace.sh $(LAB)

clean:
	@for d in $(LABS) bench; do $(MAKE) --no-print-directory -C $$d clean || exit 1; done
	rm -f server client

need_bats = command -v $(BATS) >/dev/null 2>&1 || { \
	echo "make: bats (bats-core) is not installed. Install it with one of:"; \
	echo "    sudo apt-get install bats    (Debian, Ubuntu)"; \
	echo "    brew install bats-core       (macOS)"; \
	echo "    npm install -g bats          (anywhere with Node.js)"; \
	exit 127; }

# Anything else is a mistyped lab name: list the labs and suggest the closest one.
.DEFAULT:
	@tools/lab-suggest.sh '$@' $(LABS); exit 2

Makefile: ;

.PHONY: all test sanitize trace clean FORCE
