using System;
using System.Collections.Generic;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace E2m.Server.Common
{
    /// <summary>
    /// Options bound from a configuration section and validated at start (ValidateOnStart): the host refuses to
    /// start and prints every problem, e.g. "Hss:Emks:BaseUrl: required when ...". Validation messages must never
    /// contain secret values (name the setting, not its content).
    /// </summary>
    public static class E2mOptions
    {
        public static OptionsBuilder<TOptions> AddValidatedOptions<TOptions>(
            this IServiceCollection services, string sectionName, Func<TOptions, IEnumerable<string>> validate)
            where TOptions : class
        {
            services.AddSingleton<IValidateOptions<TOptions>>(new DelegateValidator<TOptions>(sectionName, validate));
            return services.AddOptions<TOptions>().BindConfiguration(sectionName).ValidateOnStart();
        }

        private sealed class DelegateValidator<TOptions> : IValidateOptions<TOptions>
            where TOptions : class
        {
            private readonly string _section;
            private readonly Func<TOptions, IEnumerable<string>> _validate;

            public DelegateValidator(string section, Func<TOptions, IEnumerable<string>> validate)
            {
                _section = section;
                _validate = validate;
            }

            public ValidateOptionsResult Validate(string? name, TOptions options)
            {
                var failures = new List<string>();
                foreach (string f in _validate(options))
                {
                    failures.Add($"{_section}: {f}");
                }

                return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
            }
        }
    }
}
