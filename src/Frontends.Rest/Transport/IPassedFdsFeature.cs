using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.Rest.Transport;

/// <summary>
/// The descriptors a client passed as SCM_RIGHTS on a connection and no request has taken yet.
/// A client sends them with the first bytes of the request they belong to (contract §7.1), so
/// when a request's head and body have been read its descriptors have arrived.
/// </summary>
internal interface IPassedFdsFeature
{
    /// <summary>Takes every descriptor received so far; the caller owns them.</summary>
    PassedFds Take();
}
