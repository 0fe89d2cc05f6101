using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Host;

namespace CloudHypervisor.Vmm;

// Landlock at vm.create (upstream's point), and the check every add makes afterwards: the kernel
// would refuse a path outside the rules with EACCES deep inside a boot or hot-plug, so the add
// is refused first with an answer that says which path and how to allow it.
public sealed partial class VmmControlLoop
{
    // Each vm.create with landlock_enable adds a layer; the kernel allows what every layer allows.
    private readonly List<IReadOnlyList<LandlockRule>> _landlockLayers = [];

    private ApiResult ApplyLandlock(ApiAction action, VmConfig config)
    {
        IReadOnlyList<LandlockRule> rules = [.. LandlockPolicy.DeviceRules, .. _options.LandlockHostRules, .. LandlockPolicy.ConfigRules(config)];
        try
        {
            var abi = LandlockPolicy.Apply(rules);
            if (abi == 0)
            {
                _log.Warning("Landlock is not supported by this kernel (or not enabled in its LSM list): the VM runs without it");
                return ApiResult.Ok();
            }

            _landlockLayers.Add(rules);
            _log.Information("Landlock applied (ABI {Abi}) with {Count} rules", abi, rules.Count);
            return ApiResult.Ok();
        }
        catch (IOException e)
        {
            _log.Warning("{Action} failed: Error applying Landlock: {Message}", action.Name, e.Message);
            return ApiError.For(action, ApiErrorKind.Internal, "Error applying Landlock", e.Message);
        }
    }

    /// <summary>An error when <paramref name="config"/> names a path that Landlock does not allow; null otherwise.</summary>
    private ApiError? LandlockRefusal(ApiAction action, VmConfig config)
    {
        if (_landlockLayers.Count == 0 || LandlockPolicy.FirstUncovered(_landlockLayers, LandlockPolicy.ConfigRules(config)) is not { } path)
        {
            return null;
        }

        var access = (path.Read, path.Write) switch
        {
            (true, true) => "rw",
            (false, true) => "w",
            _ => "r",
        };
        return ApiError.For(action, ApiErrorKind.InvalidArgument,
            $"Landlock does not allow {access} access to {path.Path}: the VMM was sandboxed at vm.create; allow it with --landlock-rules path={path.Path},access={access}");
    }
}
