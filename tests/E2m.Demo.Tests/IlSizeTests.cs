using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using E2m.Cli;
using Xunit;
using Xunit.Abstractions;

namespace E2m.Demo.Tests
{
    /// <summary>
    /// Issue 8 point 4, IL size of the device assemblies: `e2m il-size` (System.Reflection.Metadata, no loading) must agree
    /// with an independent count through runtime reflection (MethodBody.GetILAsByteArray over every declared method and
    /// constructor of every type of the loaded assembly).
    /// </summary>
    public sealed class IlSizeTests
    {
        private readonly ITestOutputHelper _out;

        public IlSizeTests(ITestOutputHelper output) => _out = output;

        [Fact]
        public void IlSizeCommandMatchesRuntimeReflection()
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            Assert.Equal(0, CliApp.Run(new[] { "il-size" }, stdout, stderr));
            string text = stdout.ToString();
            _out.WriteLine(text);
            Assert.Matches(new Regex(@"^il-size: il-bytes=\d+ body-bytes=\d+ file-bytes=\d+ dir=", RegexOptions.Multiline), text);
            foreach (AssemblySize s in IlSize.MeasureDeviceAssemblies())
            {
                Assembly a = Assembly.LoadFrom(s.Path);
                const BindingFlags all = BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
                long il = 0;
                int methods = 0;
                foreach (Type t in a.GetTypes())
                {
                    foreach (MethodBase m in t.GetMethods(all).Cast<MethodBase>().Concat(t.GetConstructors(all)))
                    {
                        byte[]? code = m.GetMethodBody()?.GetILAsByteArray();
                        if (code != null)
                        {
                            il += code.Length;
                            methods++;
                        }
                    }
                }

                Assert.True(il == s.IlBytes, $"{s.Name}: reflection {il} IL bytes in {methods} methods, metadata {s.IlBytes} in {s.Methods}");
                Assert.Equal(methods, s.Methods);
                Assert.True(s.BodyBytes > s.IlBytes && s.FileBytes > s.BodyBytes, s.ToString());
                Assert.Contains($"{s.Name} ", text, StringComparison.Ordinal);
            }

            Assert.Equal(2, CliApp.Run(new[] { "il-size", "--dir", Path.GetTempPath() }, stdout, stderr)); // not built there
        }
    }
}
