# examples.mk - the examples, included by the top Makefile.
#
#   make examples         build every example into $(BUILD)/examples/
#   make examples-test    build them, run each briefly and check its output
#                         (part of `make test`)

EXAMPLES_DIR   := $(BUILD)/examples
MINIVM_SRCS    := $(sort $(wildcard examples/minivm/*.c))
MINIVM_HDRS    := $(wildcard examples/minivm/*.h)
EXAMPLE_SINGLE := extension foreign_thread worker_pool
EXAMPLE_BINS   := $(EXAMPLES_DIR)/minivm $(addprefix $(EXAMPLES_DIR)/,$(EXAMPLE_SINGLE))

.PHONY: examples
examples: $(EXAMPLE_BINS)

$(EXAMPLES_DIR):
	@mkdir -p $@

# $(Q) is the top Makefile's quiet prefix (V=1 shows the commands).
$(EXAMPLES_DIR)/minivm: $(MINIVM_SRCS) $(MINIVM_HDRS) include/gil.h $(BUILD)/libgil.a | $(EXAMPLES_DIR)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS_APP) -o $@ $(MINIVM_SRCS) $(LDLIBS_APP)

$(addprefix $(EXAMPLES_DIR)/,$(EXAMPLE_SINGLE)): $(EXAMPLES_DIR)/%: examples/%.c include/gil.h $(BUILD)/libgil.a | $(EXAMPLES_DIR)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS_APP) -o $@ $< $(LDLIBS_APP)

# The test script also compiles the docs' snippets, with the same compiler
# and flags as the examples.
examples-test:: $(EXAMPLE_BINS)
	@CC='$(CC)' EXAMPLES_CFLAGS='$(CFLAGS_APP)' EXAMPLES_LDLIBS='$(LDLIBS_APP)' \
	    sh examples/test_examples.sh $(EXAMPLES_DIR)
