using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace E2m.Server.Common
{
    /// <summary>
    /// <c>GET /health</c>: 200 <c>{"status":"Healthy","service":"hss","checks":{"database":"Healthy"}}</c> or 503.
    /// Unauthenticated on purpose (load balancers); it reveals no configuration, no connection string.
    /// </summary>
    public static class E2mHealth
    {
        public const string Path = "/health";

        /// <summary>Registers the health checks; adds a database ping when an <see cref="E2mDatabase"/> is registered.</summary>
        public static IServiceCollection AddE2mHealth(this IServiceCollection services)
        {
            services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database");
            return services;
        }

        public static IEndpointConventionBuilder MapE2mHealth(this IEndpointRouteBuilder endpoints, string serviceName)
        {
            return endpoints.MapHealthChecks(Path, new HealthCheckOptions
            {
                ResponseWriter = async (ctx, report) =>
                {
                    ctx.Response.ContentType = "application/json";
                    await using var w = new Utf8JsonWriter(ctx.Response.Body);
                    w.WriteStartObject();
                    w.WriteString("status", report.Status.ToString());
                    w.WriteString("service", serviceName);
                    w.WriteStartObject("checks");
                    foreach (var e in report.Entries)
                    {
                        w.WriteString(e.Key, e.Value.Status.ToString());
                    }

                    w.WriteEndObject();
                    w.WriteEndObject();
                    await w.FlushAsync().ConfigureAwait(false);
                },
            });
        }

        private sealed class DatabaseHealthCheck : IHealthCheck
        {
            private readonly E2mDatabase? _db;

            public DatabaseHealthCheck(System.IServiceProvider sp)
            {
                _db = sp.GetService<E2mDatabase>();
            }

            public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
            {
                if (_db == null)
                {
                    return HealthCheckResult.Healthy("no database");
                }

                return await _db.PingAsync(cancellationToken).ConfigureAwait(false)
                    ? HealthCheckResult.Healthy()
                    : HealthCheckResult.Unhealthy("database not reachable");
            }
        }
    }
}
