using System.Runtime.CompilerServices;

// The KVM tests check the interop structs, loaders and device models directly.
[assembly: InternalsVisibleTo("Vmm.Tests")]
