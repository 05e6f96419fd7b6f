"""H200 run 123 (probe): does the driver have VK_NV_external_compute_queue and CUDA
in Graphics (CIG) with Vulkan? Lists the Vulkan device extensions of interest
and CUDA's CU_DEVICE_ATTRIBUTE_VULKAN_CIG_SUPPORTED."""
import ctypes, sys
vk = ctypes.CDLL("libvulkan.so.1")
class AppInfo(ctypes.Structure):
    _fields_=[("sType",ctypes.c_int),("pNext",ctypes.c_void_p),("pApplicationName",ctypes.c_char_p),("applicationVersion",ctypes.c_uint32),("pEngineName",ctypes.c_char_p),("engineVersion",ctypes.c_uint32),("apiVersion",ctypes.c_uint32)]
class InstInfo(ctypes.Structure):
    _fields_=[("sType",ctypes.c_int),("pNext",ctypes.c_void_p),("flags",ctypes.c_uint32),("pApplicationInfo",ctypes.POINTER(AppInfo)),("enabledLayerCount",ctypes.c_uint32),("ppEnabledLayerNames",ctypes.c_void_p),("enabledExtensionCount",ctypes.c_uint32),("ppEnabledExtensionNames",ctypes.c_void_p)]
app=AppInfo(0,None,b"probe",1,b"probe",1,(1<<22)|(3<<12))
info=InstInfo(1,None,0,ctypes.pointer(app),0,None,0,None)
inst=ctypes.c_void_p()
print("vkCreateInstance", vk.vkCreateInstance(ctypes.byref(info),None,ctypes.byref(inst)))
n=ctypes.c_uint32()
vk.vkEnumeratePhysicalDevices(inst,ctypes.byref(n),None)
devs=(ctypes.c_void_p*n.value)()
vk.vkEnumeratePhysicalDevices(inst,ctypes.byref(n),devs)
class Ext(ctypes.Structure):
    _fields_=[("name",ctypes.c_char*256),("spec",ctypes.c_uint32)]
for d in devs:
    m=ctypes.c_uint32()
    vk.vkEnumerateDeviceExtensionProperties(ctypes.c_void_p(d),None,ctypes.byref(m),None)
    exts=(Ext*m.value)()
    vk.vkEnumerateDeviceExtensionProperties(ctypes.c_void_p(d),None,ctypes.byref(m),exts)
    names=[e.name.decode() for e in exts]
    print(len(names), "extensions;", [x for x in names if "external_compute" in x or "cuda" in x.lower() or "NV_" in x and "queue" in x])
cuda = ctypes.CDLL("libcuda.so.1")
print("cuInit", cuda.cuInit(0))
value = ctypes.c_int()
for attr, name in ((138, "VULKAN_CIG_SUPPORTED"), (135, "D3D12_CIG_SUPPORTED")):
    print(name, cuda.cuDeviceGetAttribute(ctypes.byref(value), attr, 0), value.value)
