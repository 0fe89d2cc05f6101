using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace CloudHypervisor.Logging;

/// <summary>
/// Writes formatted lines to stderr or the <c>--log-file</c>, flushing each one so a crash loses
/// nothing. The file is created and truncated like upstream's <c>File::create</c>.
/// </summary>
public sealed class TextWriterSink(TextWriter writer, ITextFormatter formatter, bool ownsWriter) : ILogEventSink, IDisposable
{
    private readonly Lock _lock = new();

    /// <summary>A sink writing to <paramref name="path"/>, created or truncated.</summary>
    public static TextWriterSink ForFile(string path, ITextFormatter formatter)
    {
        var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite);
        return new TextWriterSink(new StreamWriter(stream) { AutoFlush = false }, formatter, ownsWriter: true);
    }

    public void Emit(LogEvent logEvent)
    {
        lock (_lock)
        {
            formatter.Format(logEvent, writer);
            writer.Flush();
        }
    }

    public void Dispose()
    {
        if (ownsWriter)
        {
            lock (_lock)
            {
                writer.Dispose();
            }
        }
    }
}
