using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>ConsoleMode</c> (Rust <c>ConsoleOutputMode</c>) for serial, console and debug_console.</summary>
[JsonConverter(typeof(RustEnumConverter<ConsoleMode>))]
public enum ConsoleMode
{
    Off,
    Pty,
    Tty,
    File,
    Socket,
    Null,
}
