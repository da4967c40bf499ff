using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace E2m.Demo
{
    /// <summary>IL and file size of one built assembly (issue 8 point 4, `e2m il-size`).</summary>
    public sealed record AssemblySize(string Name, string Path, long FileBytes, long IlBytes, long BodyBytes, int Methods, int Types, string Configuration);

    /// <summary>
    /// Reads built assemblies with System.Reflection.Metadata (no loading, no execution) and sums over every
    /// MethodDefinition with a body: IL bytes = the IL code (<see cref="MethodBodyBlock.GetILBytes"/>), body bytes =
    /// <see cref="MethodBodyBlock.Size"/> (method header + IL code + exception clauses, ECMA-335 §II.25.4). These are the host (net10.0) builds of the portable device projects: the
    /// same C# the nanoFramework build compiles, so a figure of code size, not of the device's PE image.
    /// </summary>
    public static class IlSize
    {
        /// <summary>The portable assemblies that run on the device (firmware/ and hal/E2m.Hal).</summary>
        public static readonly string[] DeviceAssemblies = { "E2m.Crypto", "E2m.Coap", "E2m.Oscore", "E2m.Modem", "E2m.Hal", "E2m.Firmware" };

        public static AssemblySize Measure(string path)
        {
            using var stream = File.OpenRead(path);
            using var pe = new PEReader(stream);
            MetadataReader md = pe.GetMetadataReader();
            long il = 0, bodies = 0;
            int methods = 0;
            foreach (MethodDefinitionHandle h in md.MethodDefinitions)
            {
                MethodDefinition m = md.GetMethodDefinition(h);
                if (m.RelativeVirtualAddress == 0)
                {
                    continue; // abstract, extern, interface method
                }

                MethodBodyBlock body = pe.GetMethodBody(m.RelativeVirtualAddress);
                il += body.GetILReader().Length;
                bodies += body.Size;
                methods++;
            }

            return new AssemblySize(md.GetString(md.GetAssemblyDefinition().Name), path, new FileInfo(path).Length, il, bodies, methods, md.TypeDefinitions.Count, Configuration(md));
        }

        /// <summary>Each device assembly found in <paramref name="directory"/> (default: beside this assembly, i.e. the e2m build).</summary>
        public static List<AssemblySize> MeasureDeviceAssemblies(string? directory = null)
        {
            string dir = directory ?? AppContext.BaseDirectory;
            var result = new List<AssemblySize>();
            foreach (string name in DeviceAssemblies)
            {
                string path = System.IO.Path.Combine(dir, name + ".dll");
                if (!File.Exists(path))
                {
                    throw new FileNotFoundException("device assembly not built: " + path, path);
                }

                result.Add(Measure(path));
            }

            return result;
        }

        /// <summary>The value of [AssemblyConfiguration] (the SDK writes Debug or Release), or "?".</summary>
        private static string Configuration(MetadataReader md)
        {
            foreach (CustomAttributeHandle h in md.GetAssemblyDefinition().GetCustomAttributes())
            {
                CustomAttribute a = md.GetCustomAttribute(h);
                if (a.Constructor.Kind != HandleKind.MemberReference)
                {
                    continue;
                }

                MemberReference ctor = md.GetMemberReference((MemberReferenceHandle)a.Constructor);
                if (ctor.Parent.Kind != HandleKind.TypeReference || md.GetString(md.GetTypeReference((TypeReferenceHandle)ctor.Parent).Name) != nameof(AssemblyConfigurationAttribute))
                {
                    continue;
                }

                BlobReader blob = md.GetBlobReader(a.Value);
                if (blob.ReadUInt16() == 1) // ECMA-335 §II.23.3 prolog
                {
                    return blob.ReadSerializedString() ?? "?";
                }
            }

            return "?";
        }
    }
}
