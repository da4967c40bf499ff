using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace E2m.Cli.Tests
{
    /// <summary>
    /// The classic nanoFramework projects (issue 7 point 3) cannot be built here (no nanoFramework project system on
    /// Linux), so their structure is checked instead: each .nfproj lists exactly the .cs files of its folder (classic
    /// projects do not glob), every package DLL it references is named with the same version in its packages.config and
    /// one version per package id across the repository, the test project has the TestFramework shape, and
    /// nanoFramework.sln lists every .nfproj with the nanoFramework project type and no Build.0 in the host
    /// configurations (DESIGN.md §11 option a). The C# inside them is compiled by tools/E2m.Hal.NanoFramework.Compile.
    /// </summary>
    public sealed class DeviceBuildTests
    {
        private const string NanoProjectType = "{11A8DD76-328B-46DF-9F39-F559912D0360}";
        private static readonly XNamespace Msb = "http://schemas.microsoft.com/developer/msbuild/2003";
        private static readonly string Root = Path.GetFullPath(typeof(DeviceBuildTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepoRoot").Value!);

        public static IEnumerable<object[]> Projects() => new[]
        {
            "hal/E2m.Hal/E2m.Hal.nfproj",
            "firmware/E2m.Crypto/E2m.Crypto.nfproj",
            "firmware/E2m.Coap/E2m.Coap.nfproj",
            "firmware/E2m.Oscore/E2m.Oscore.nfproj",
            "firmware/E2m.Modem/E2m.Modem.nfproj",
            "firmware/E2m.Firmware/E2m.Firmware.nfproj",
            "hal/E2m.Hal.NanoFramework/E2m.Hal.NanoFramework.nfproj",
            "firmware/E2m.Firmware.Device/E2m.Firmware.Device.nfproj",
            "tests/E2m.Device.Tests/E2m.Device.Tests.nfproj",
        }.Select(p => new object[] { p });

        [Theory]
        [MemberData(nameof(Projects))]
        public void Nfproj_lists_exactly_the_cs_files_of_its_folder(string project)
        {
            string path = Path.Combine(Root, project);
            string dir = Path.GetDirectoryName(path)!;
            var listed = Load(path).Descendants(Msb + "Compile").Select(c => c.Attribute("Include")!.Value.Replace('\\', '/')).ToHashSet(StringComparer.Ordinal);
            var onDisk = Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/'))
                .Where(f => !f.StartsWith("bin/", StringComparison.Ordinal) && !f.StartsWith("obj/", StringComparison.Ordinal))
                .ToHashSet(StringComparer.Ordinal);
            var missing = onDisk.Except(listed).OrderBy(x => x, StringComparer.Ordinal).ToList();
            var stale = listed.Except(onDisk).OrderBy(x => x, StringComparer.Ordinal).ToList();
            Assert.True(missing.Count == 0 && stale.Count == 0,
                project + ": add <Compile Include> for [" + string.Join(", ", missing) + "], remove [" + string.Join(", ", stale) + "]");
        }

        [Theory]
        [MemberData(nameof(Projects))]
        public void Nfproj_is_a_classic_nanoFramework_project_whose_references_match_packages_config(string project)
        {
            string path = Path.Combine(Root, project);
            XDocument doc = Load(path);
            Assert.Equal("Current", doc.Root!.Attribute("ToolsVersion")?.Value);
            Assert.Contains(NanoProjectType, Property(doc, "ProjectTypeGuids"), StringComparison.OrdinalIgnoreCase);
            Assert.Equal("v1.0", Property(doc, "TargetFrameworkVersion"));
            Assert.Equal("false", Property(doc, "ImportDirectoryBuildProps"));

            var packages = PackagesConfig(Path.Combine(Path.GetDirectoryName(path)!, "packages.config"));
            foreach (XElement reference in doc.Descendants(Msb + "Reference"))
            {
                string hint = reference.Element(Msb + "HintPath")!.Value.Replace('\\', '/');
                Match m = Regex.Match(hint, @"^(\.\./)+packages/(?<id>[A-Za-z0-9.]+?)\.(?<v>\d+\.\d+\.\d+)/lib/[^/]+$");
                Assert.True(m.Success, project + ": unexpected HintPath " + hint);
                Assert.True(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, hint.Substring(0, hint.IndexOf("packages/", StringComparison.Ordinal)))) == Root,
                    project + ": HintPath must point at the solution-level packages folder: " + hint);
                Assert.True(packages.TryGetValue(m.Groups["id"].Value, out string? v) && v == m.Groups["v"].Value,
                    project + ": " + m.Groups["id"].Value + " " + m.Groups["v"].Value + " is not in its packages.config");
            }

            foreach (XElement pr in doc.Descendants(Msb + "ProjectReference"))
            {
                string target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, pr.Attribute("Include")!.Value.Replace('\\', '/')));
                Assert.True(File.Exists(target), project + ": missing referenced project " + target);
                Assert.Equal(Property(Load(target), "ProjectGuid"), pr.Element(Msb + "Project")!.Value);
            }
        }

        [Fact]
        public void One_version_per_package_across_all_packages_config_files()
        {
            var versions = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (object[] p in Projects())
            {
                foreach (var kv in PackagesConfig(Path.Combine(Root, Path.GetDirectoryName((string)p[0])!, "packages.config")))
                {
                    if (versions.TryGetValue(kv.Key, out string? seen))
                    {
                        Assert.True(seen == kv.Value, kv.Key + ": " + seen + " and " + kv.Value);
                    }

                    versions[kv.Key] = kv.Value;
                }
            }

            Assert.Equal("1.17.11", versions["nanoFramework.CoreLibrary"]);
            Assert.Equal("1.1.132", versions["nanoFramework.System.IO.Ports"]);
            Assert.Equal("1.6.37", versions["nanoFramework.Hardware.Esp32"]);
            Assert.Equal("1.1.96", versions["nanoFramework.System.IO.Streams"]);
            Assert.Equal("1.3.42", versions["nanoFramework.System.Text"]);
            Assert.Equal("3.0.80", versions["nanoFramework.TestFramework"]);
        }

        [Fact]
        public void Device_app_and_test_project_have_the_shapes_the_nanoFramework_tools_expect()
        {
            XDocument app = Load(Path.Combine(Root, "firmware/E2m.Firmware.Device/E2m.Firmware.Device.nfproj"));
            Assert.Equal("Exe", Property(app, "OutputType"));

            XDocument tests = Load(Path.Combine(Root, "tests/E2m.Device.Tests/E2m.Device.Tests.nfproj"));
            Assert.Equal("NFUnitTest", Property(tests, "AssemblyName")); // the launcher does Assembly.Load("NFUnitTest")
            Assert.Equal("true", Property(tests, "IsTestProject"));
            Assert.Contains(tests.Descendants(Msb + "ProjectCapability"), e => e.Attribute("Include")?.Value == "TestContainer");
            Assert.EndsWith("nano.runsettings", Property(tests, "RunSettingsFilePath"), StringComparison.Ordinal);
            XDocument settings = XDocument.Load(Path.Combine(Root, "tests/E2m.Device.Tests/nano.runsettings"));
            Assert.Equal("True", settings.Descendants("IsRealHardware").Single().Value);
            Assert.Contains("developmentDependency=\"true\"", File.ReadAllText(Path.Combine(Root, "tests/E2m.Device.Tests/packages.config")), StringComparison.Ordinal);
        }

        [Fact]
        public void Solution_lists_every_nfproj_without_Build_0_in_the_host_configurations()
        {
            string[] sln = File.ReadAllLines(Path.Combine(Root, "nanoFramework.sln"));
            foreach (object[] p in Projects())
            {
                string project = ((string)p[0]).Replace('/', '\\');
                string? line = sln.SingleOrDefault(l => l.StartsWith("Project(", StringComparison.Ordinal) && l.Contains("\"" + project + "\"", StringComparison.Ordinal));
                Assert.True(line != null, project + " is not in nanoFramework.sln");
                Assert.StartsWith("Project(\"" + NanoProjectType + "\")", line, StringComparison.OrdinalIgnoreCase);
                string guid = Regex.Match(line!, "\"(\\{[0-9A-Fa-f-]+\\})\"\\s*$").Groups[1].Value;
                Assert.Equal(Property(Load(Path.Combine(Root, (string)p[0])), "ProjectGuid"), guid, ignoreCase: true);
                var builds = sln.Where(l => l.TrimStart().StartsWith(guid + ".", StringComparison.OrdinalIgnoreCase) && l.Contains(".Build.0", StringComparison.Ordinal)).ToList();
                Assert.True(builds.All(l => l.TrimStart().StartsWith(guid + ".Device|", StringComparison.OrdinalIgnoreCase)),
                    project + " builds in a host configuration: " + string.Join(" | ", builds));
                Assert.Contains(sln, l => l.TrimStart().StartsWith(guid + ".Debug|Any CPU.ActiveCfg", StringComparison.OrdinalIgnoreCase));
            }
        }

        [Fact]
        public void Device_only_code_passes_the_IL_witness_apart_from_its_declared_upstream_references()
        {
            // tools/E2m.Hal.NanoFramework.Compile: adapters + Program + device tests + all portable code, against nano
            // mscorlib and tools/E2m.NanoRefs. Allowed: references to E2m.NanoRefs (the upstream nanoFramework packages)
            // and Console in the device logger; everything else (generic instantiations, rejected opcodes, ...) fails.
            string dll = typeof(DeviceBuildTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "DeviceCompileDll").Value!;
            var findings = E2m.NanoCheck.NanoIlChecker.Check(dll)
                .Where(f => !(f.Kind is E2m.NanoCheck.NanoFindingKind.ForeignAssembly or E2m.NanoCheck.NanoFindingKind.ForeignMember
                    && f.ToString().Contains("E2m.NanoRefs", StringComparison.Ordinal)))
                .ToList();
            // the one Console call: ConsoleLog.Write, the device logger behind E2m.Hal.ILog
            Assert.True(findings.Count(f => f.Kind == E2m.NanoCheck.NanoFindingKind.ForbiddenApi && f.Detail.StartsWith("System.Console::WriteLine", StringComparison.Ordinal)) <= 1);
            findings.RemoveAll(f => f.Kind == E2m.NanoCheck.NanoFindingKind.ForbiddenApi && f.Detail.StartsWith("System.Console::WriteLine", StringComparison.Ordinal));
            Assert.True(findings.Count == 0, string.Join(Environment.NewLine, findings));
        }

        private static XDocument Load(string path) => XDocument.Load(path);

        private static string Property(XDocument doc, string name) =>
            doc.Descendants(Msb + name).FirstOrDefault()?.Value ?? throw new InvalidOperationException(name + " not set");

        private static Dictionary<string, string> PackagesConfig(string path) =>
            XDocument.Load(path).Descendants("package").ToDictionary(p => p.Attribute("id")!.Value, p => p.Attribute("version")!.Value, StringComparer.Ordinal);
    }
}
