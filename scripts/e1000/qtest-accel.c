/*
 * qtest-accel.c: the "qtest" accelerator as a loadable QEMU module, built
 * against the symbols that Debian's qemu-system-x86_64 (7.2) exports.
 *
 * Contract: registers the QOM types "qtest-accel" and "qtest-accel-ops" when
 * QEMU loads this file from QEMU_MODULE_DIR as accel-qtest-x86_64.so. It does
 * nothing else: the qtest wire protocol (softmmu/qtest.c) is already linked
 * into the binary; Debian only leaves out this small accelerator module.
 *
 * Why hand-written layouts instead of QEMU's headers: QEMU's headers need the
 * generated config of the exact build. The four structs below are the 7.2
 * layouts (ObjectClass, AccelClass, AccelOpsClass, TypeInfo) on x86_64; only
 * the fields this module writes are named, the rest are padding. The build
 * script checks the binary is 7.2 before compiling.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifndef QEMU_STAMP_FN
#error "QEMU_STAMP_FN must name the binary's qemu_stamp_<hash> symbol"
#endif

/* ObjectClass (include/qom/object.h, 7.2): type, interfaces,
 * object_cast_cache[4], class_cast_cache[4], unparent, properties. */
struct object_class_7_2 {
    void *fields[12];
};

/* AccelClass (include/qemu/accel.h, softmmu build). */
struct accel_class_7_2 {
    struct object_class_7_2 parent;
    const char *name;
    int (*init_machine)(void *machine);
    void *setup_post;
    void *has_memory;
    void *gdbstub_supported_sstep_flags;
    bool *allowed;
    void *compat_props;
};

/* AccelOpsClass (include/sysemu/accel-ops.h). */
struct accel_ops_class_7_2 {
    struct object_class_7_2 parent;
    void *ops_init;
    void *cpus_are_resettable;
    void (*create_vcpu_thread)(void *cpu);
    void *kick_vcpu_thread;
    void *cpu_thread_is_idle;
    void *synchronize_post_reset;
    void *synchronize_post_init;
    void *synchronize_state;
    void *synchronize_pre_loadvm;
    void *synchronize_pre_resume;
    void *handle_interrupt;
    int64_t (*get_virtual_clock)(void);
    void *get_elapsed_ticks;
    void *supports_guest_debug;
    void *insert_breakpoint;
    void *remove_breakpoint;
    void *remove_all_breakpoints;
};

/* TypeInfo (include/qom/object.h). */
struct type_info_7_2 {
    const char *name;
    const char *parent;
    size_t instance_size;
    size_t instance_align;
    void *instance_init;
    void *instance_post_init;
    void *instance_finalize;
    bool abstract;
    size_t class_size;
    void (*class_init)(void *klass, void *data);
    void *class_base_init;
    void *class_data;
    void *interfaces;
};

_Static_assert(sizeof(struct object_class_7_2) == 96, "ObjectClass size");
_Static_assert(offsetof(struct accel_class_7_2, allowed) == 136, "AccelClass.allowed");
_Static_assert(offsetof(struct accel_ops_class_7_2, create_vcpu_thread) == 112, "ops.create_vcpu_thread");
_Static_assert(offsetof(struct accel_ops_class_7_2, get_virtual_clock) == 184, "ops.get_virtual_clock");
_Static_assert(sizeof(struct type_info_7_2) == 104, "TypeInfo size");

/* Exported by the qemu-system binary. */
extern bool qtest_allowed;
extern int64_t qtest_get_virtual_clock(void);
extern void dummy_start_vcpu_thread(void *cpu);
extern void *type_register_static(const struct type_info_7_2 *info);
extern void register_dso_module_init(void (*fn)(void), int type);

enum { MODULE_INIT_QOM_7_2 = 3 };

/* The loader looks these two up by name: the stamp proves the module was
 * built for this binary, the dummy marks the file as a QEMU module. */
void QEMU_STAMP_FN(void) {}
void qemu_module_dummy(void) {}

static int qtest_accel_init_machine(void *machine)
{
    (void)machine;
    return 0;
}

static void qtest_accel_class_init(void *klass, void *data)
{
    struct accel_class_7_2 *ac = klass;
    (void)data;
    ac->name = "QTest";
    ac->init_machine = qtest_accel_init_machine;
    ac->allowed = &qtest_allowed;
}

static void qtest_accel_ops_class_init(void *klass, void *data)
{
    struct accel_ops_class_7_2 *ops = klass;
    (void)data;
    ops->create_vcpu_thread = dummy_start_vcpu_thread;
    ops->get_virtual_clock = qtest_get_virtual_clock;
}

static const struct type_info_7_2 qtest_accel_type = {
    .name = "qtest-accel",
    .parent = "accel",
    .class_init = qtest_accel_class_init,
};

static const struct type_info_7_2 qtest_accel_ops_type = {
    .name = "qtest-accel-ops",
    .parent = "accel-ops",
    .abstract = true,
    .class_init = qtest_accel_ops_class_init,
};

static void qtest_accel_register_types(void)
{
    type_register_static(&qtest_accel_type);
    type_register_static(&qtest_accel_ops_type);
}

/* What QEMU's module_init() does inside a DSO: queue the init function; the
 * loader runs it right after the stamp check. */
__attribute__((constructor)) static void qtest_accel_module_ctor(void)
{
    register_dso_module_init(qtest_accel_register_types, MODULE_INIT_QOM_7_2);
}
