/* HDF5 for Swift: the library's constants are macros that Swift cannot import, so each one is
   exposed here as a static inline function (which also runs H5open() where the macro does).
   The header is named by its path (Debian's serial build), since this module has no pkg-config entry
   to supply an include path: pkg-config's would also link libhdf5's shared build (Package.swift). */
#include "/usr/include/hdf5/serial/hdf5.h"

static inline hid_t ch5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t ch5_e_default(void) { return H5E_DEFAULT; }
static inline hid_t ch5_s_all(void) { return H5S_ALL; }
static inline unsigned ch5_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned ch5_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned ch5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline size_t ch5_variable(void) { return H5T_VARIABLE; }
static inline haddr_t ch5_haddr_undef(void) { return HADDR_UNDEF; }

static inline hid_t ch5_p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t ch5_p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t ch5_p_group_create(void) { return H5P_GROUP_CREATE; }
static inline hid_t ch5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t ch5_p_link_create(void) { return H5P_LINK_CREATE; }

static inline hid_t ch5_c_s1(void) { return H5T_C_S1; }
static inline hid_t ch5_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t ch5_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t ch5_std_i8le(void) { return H5T_STD_I8LE; }
static inline hid_t ch5_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t ch5_std_i16le(void) { return H5T_STD_I16LE; }
static inline hid_t ch5_std_u16le(void) { return H5T_STD_U16LE; }
static inline hid_t ch5_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t ch5_std_u32le(void) { return H5T_STD_U32LE; }
static inline hid_t ch5_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t ch5_std_u64le(void) { return H5T_STD_U64LE; }
static inline hid_t ch5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t ch5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t ch5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t ch5_native_double(void) { return H5T_NATIVE_DOUBLE; }

static inline unsigned ch5_crt_order_tracked_indexed(void) {
    return H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
}
