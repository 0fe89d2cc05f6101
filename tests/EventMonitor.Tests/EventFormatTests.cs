namespace CloudHypervisor.EventMonitor.Tests;

public sealed class EventFormatTests
{
    [Fact]
    public void Pretty_record_without_properties_has_upstream_shape_with_seq_last()
    {
        var record = new EventRecord(0, new TimeSpan(5187620) / 10, "vmm", "starting", null);

        Assert.Equal(
            "{\n" +
            "  \"timestamp\": {\n" +
            "    \"secs\": 0,\n" +
            "    \"nanos\": 51876200\n" +
            "  },\n" +
            "  \"source\": \"vmm\",\n" +
            "  \"event\": \"starting\",\n" +
            "  \"properties\": null,\n" +
            "  \"seq\": 0\n" +
            "}",
            EventFormat.Pretty(record));
    }

    [Fact]
    public void Pretty_record_with_properties_writes_them_as_a_string_object()
    {
        var record = new EventRecord(
            7,
            TimeSpan.FromSeconds(3) + TimeSpan.FromTicks(1203344),
            "virtio-device",
            "activated",
            new Dictionary<string, string> { ["id"] = "_disk0" });

        Assert.Equal(
            "{\n" +
            "  \"timestamp\": {\n" +
            "    \"secs\": 3,\n" +
            "    \"nanos\": 120334400\n" +
            "  },\n" +
            "  \"source\": \"virtio-device\",\n" +
            "  \"event\": \"activated\",\n" +
            "  \"properties\": {\n" +
            "    \"id\": \"_disk0\"\n" +
            "  },\n" +
            "  \"seq\": 7\n" +
            "}",
            EventFormat.Pretty(record));
    }

    [Fact]
    public void Compact_record_is_one_line()
    {
        var record = new EventRecord(2, TimeSpan.FromSeconds(1), "vm", "booted", null);

        Assert.Equal(
            "{\"timestamp\":{\"secs\":1,\"nanos\":0},\"source\":\"vm\",\"event\":\"booted\",\"properties\":null,\"seq\":2}",
            EventFormat.Compact(record));
    }
}
