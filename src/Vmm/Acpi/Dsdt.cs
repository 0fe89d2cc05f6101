using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Pci;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Acpi;

/// <summary>
/// The Differentiated System Description Table: the AML namespace of our platform. It says what
/// the FADT cannot in hardware-reduced mode: the S5 sleep type, the power button (a PNP0C0C
/// device notified by the Generic Event Device, ACPI0013, on GSI <see cref="PlatformLayout.GedIrq"/>),
/// COM1, the CMOS RTC, the PCI host bridges and the ACPI PCI hot-plug controller.
/// </summary>
internal static class Dsdt
{
    /// <summary>Revision 2: AML integers are 64 bits wide.</summary>
    public const byte Revision = 2;

    /// <summary>SLP_TYPx for S5; the guest writes it into bits 2-4 of the sleep control register.</summary>
    public const byte S5SleepType = 5;

    /// <summary>Notify value 0x80 on a power button device: "button pressed" (§4.8.3.1.1).</summary>
    public const byte PowerButtonPressed = 0x80;

    public static byte[] Build(IReadOnlyList<PciSegmentLayout>? pci = null) => AcpiSdt.Build("DSDT", Revision, "CHDSDT", Aml(pci));

    /// <summary>The DSDT body (the AML definition block) without the header.</summary>
    public static byte[] Aml(IReadOnlyList<PciSegmentLayout>? pci = null) => Acpi.Aml.Concat(
        // \_S5: {SLP_TYPa, SLP_TYPb, reserved, reserved}.
        Acpi.Aml.Name("_S5", Acpi.Aml.Package(
            Acpi.Aml.Integer(S5SleepType), Acpi.Aml.Integer(S5SleepType), Acpi.Aml.Integer(0), Acpi.Aml.Integer(0))),
        // PHPR first: the GED's _EVT and every slot's _EJ0 call its methods, and an AML reader
        // (iasl, a disassembler) must know a method's argument count before the call.
        Acpi.Aml.Scope("\\_SB", [.. HotplugController(pci ?? []), PowerButton(), GenericEventDevice(pci is { Count: > 0 }), Com1(), Rtc(), .. PciHostBridges(pci ?? [])]));

    /// <summary>
    /// \_SB_.PHPR, upstream's ACPI PCI hot-plug controller: PCIU/PCID/B0EJ/PSEG in a 16-byte
    /// region, PCEJ(slot, segment) to eject a slot, PSCN to look at every segment (the GED's PCI
    /// event runs it).
    /// </summary>
    private static byte[][] HotplugController(IReadOnlyList<PciSegmentLayout> segments)
    {
        if (segments.Count == 0)
        {
            return [];
        }

        return [Acpi.Aml.Device("PHPR",
            Acpi.Aml.Name("_HID", Acpi.Aml.EisaId("PNP0A06")),
            Acpi.Aml.Name("_UID", Acpi.Aml.String("PCI Hotplug Controller")),
            Acpi.Aml.Name("_CRS", Acpi.Aml.ResourceTemplate(
                AmlResource.Memory32Fixed(true, (uint)PlatformLayout.PciHotplugStart, (uint)PlatformLayout.PciHotplugSize))),
            Acpi.Aml.OperationRegion("PCST", AmlRegionSpace.SystemMemory, PlatformLayout.PciHotplugStart, PlatformLayout.PciHotplugSize),
            Acpi.Aml.Field("PCST", AmlFieldAccess.DWordAcc, AmlFieldUpdate.WriteAsZeros,
                new AmlFieldUnit("PCIU", 32), new AmlFieldUnit("PCID", 32), new AmlFieldUnit("B0EJ", 32), new AmlFieldUnit("PSEG", 32)),
            Acpi.Aml.Method("PCEJ", 2, serialized: true,
                Acpi.Aml.Store(Acpi.Aml.Arg(1), Acpi.Aml.Ref("PSEG")),
                Acpi.Aml.ShiftLeft(Acpi.Aml.Integer(1), Acpi.Aml.Arg(0), Acpi.Aml.Ref("B0EJ")),
                Acpi.Aml.Return(Acpi.Aml.Integer(0))),
            Acpi.Aml.Method("PSCN", 0, serialized: true,
                [.. segments.Select(s => Acpi.Aml.Call($"\\_SB_.PC{s.Id:X2}.PCNT"))]))];
    }

    /// <summary>
    /// What each host bridge needs for hot-plug: a device per slot with _ADR, _SUN and an _EJ0
    /// that asks PHPR to eject it, DVNT to notify the slots of a bitmap, and PCNT, which reads the
    /// segment's added (device check, 1) and to-be-removed (eject request, 3) bitmaps.
    /// </summary>
    private static byte[][] HotplugSlots(ushort segment)
    {
        var slots = new List<byte[]>();
        var notifies = new List<byte[]>();
        for (var slot = 1; slot < PciSegment.Slots; slot++)
        {
            var name = $"S{slot:D3}";
            slots.Add(Acpi.Aml.Device(name,
                Acpi.Aml.Name("_ADR", Acpi.Aml.Integer((ulong)slot << 16)),
                Acpi.Aml.Name("_SUN", Acpi.Aml.Integer((ulong)slot)),
                Acpi.Aml.Method("_EJ0", 1, serialized: false,
                    Acpi.Aml.Call("\\_SB_.PHPR.PCEJ", Acpi.Aml.Integer((ulong)slot), Acpi.Aml.Integer(segment)))));
            notifies.Add(Acpi.Aml.If(Acpi.Aml.And(Acpi.Aml.Arg(0), Acpi.Aml.Integer(1UL << slot)), Acpi.Aml.Notify(name, Acpi.Aml.Arg(1))));
        }

        slots.Add(Acpi.Aml.Method("DVNT", 2, serialized: false, [.. notifies]));
        slots.Add(Acpi.Aml.Method("PCNT", 0, serialized: true,
            Acpi.Aml.Store(Acpi.Aml.Integer(segment), Acpi.Aml.Ref("\\_SB_.PHPR.PSEG")),
            Acpi.Aml.Call("DVNT", Acpi.Aml.Ref("\\_SB_.PHPR.PCIU"), Acpi.Aml.Integer(1)),
            Acpi.Aml.Call("DVNT", Acpi.Aml.Ref("\\_SB_.PHPR.PCID"), Acpi.Aml.Integer(3))));
        return [.. slots];
    }

    /// <summary>
    /// One PCI Express host bridge per segment (PNP0A08, compatible PNP0A03) with _SEG, _BBN 0 and
    /// the windows it decodes in _CRS: bus 0, on segment 0 the config ports and the rest of the
    /// port space, the 32-bit and 64-bit BAR windows. A motherboard resource (PNP0C02) reserves
    /// the ECAM area, which Linux requires before it trusts the MCFG table.
    /// </summary>
    private static byte[][] PciHostBridges(IReadOnlyList<PciSegmentLayout> segments)
    {
        if (segments.Count == 0)
        {
            return [];
        }

        var bridges = new List<byte[]>();
        foreach (var s in segments)
        {
            var resources = new List<byte[]> { AmlResource.WordBusNumber(0, 0) };
            if (s.Id == 0)
            {
                resources.Add(AmlResource.Io(PlatformLayout.PciConfigAddressPort, PlatformLayout.PciConfigAddressPort, 1, 8));
                resources.Add(AmlResource.WordIo(0x0000, 0x0CF7));
                resources.Add(AmlResource.WordIo(0x0D00, 0xFFFF));
            }

            resources.Add(AmlResource.DWordMemory((uint)s.Mmio32Start, (uint)s.Mmio32Size));
            resources.Add(AmlResource.QWordMemory(s.Mmio64Start, s.Mmio64Size));
            bridges.Add(Acpi.Aml.Device($"PC{s.Id:X2}",
            [
                Acpi.Aml.Name("_HID", Acpi.Aml.EisaId("PNP0A08")),
                Acpi.Aml.Name("_CID", Acpi.Aml.EisaId("PNP0A03")),
                Acpi.Aml.Name("_ADR", Acpi.Aml.Integer(0)),
                Acpi.Aml.Name("_SEG", Acpi.Aml.Integer(s.Id)),
                Acpi.Aml.Name("_UID", Acpi.Aml.Integer(s.Id)),
                Acpi.Aml.Name("_BBN", Acpi.Aml.Integer(0)),
                Acpi.Aml.Name("_CRS", Acpi.Aml.ResourceTemplate([.. resources])),
                .. HotplugSlots(s.Id),
            ]));
        }

        bridges.Add(Acpi.Aml.Device("MRES",
            Acpi.Aml.Name("_HID", Acpi.Aml.EisaId("PNP0C02")),
            Acpi.Aml.Name("_UID", Acpi.Aml.Integer(0)),
            Acpi.Aml.Name("_CRS", Acpi.Aml.ResourceTemplate(
                AmlResource.Memory32Fixed(true, (uint)PlatformLayout.PciEcamStart, (uint)(segments.Count * (int)PciEcam.Size))))));
        return [.. bridges];
    }

    private static byte[] PowerButton() => Acpi.Aml.Device("PWRB",
        Acpi.Aml.Name("_HID", Acpi.Aml.EisaId("PNP0C0C")),
        Acpi.Aml.Name("_UID", Acpi.Aml.Integer(0)));

    /// <summary>
    /// GED (§5.6.9): its _CRS lists the interrupt, and on that interrupt the OSPM runs _EVT, which
    /// reads (and thereby clears) the event register and notifies the devices whose bits are set.
    /// </summary>
    private static byte[] GenericEventDevice(bool pciHotplug) => Acpi.Aml.Device("GED0",
        Acpi.Aml.Name("_HID", Acpi.Aml.String("ACPI0013")),
        Acpi.Aml.Name("_UID", Acpi.Aml.Integer(0)),
        Acpi.Aml.Name("_CRS", Acpi.Aml.ResourceTemplate(
            AmlResource.Interrupt(edgeTriggered: true, activeLow: false, shared: false, (uint)PlatformLayout.GedIrq))),
        Acpi.Aml.OperationRegion("GDST", AmlRegionSpace.SystemMemory, PlatformLayout.GedStart, 4),
        Acpi.Aml.Field("GDST", AmlFieldAccess.DWordAcc, AmlFieldUpdate.WriteAsZeros, new AmlFieldUnit("GDAT", 32)),
        Acpi.Aml.Method("_EVT", 1, serialized: true,
            Acpi.Aml.Store(Acpi.Aml.Ref("GDAT"), Acpi.Aml.Local(0)),
            Acpi.Aml.If(Acpi.Aml.And(Acpi.Aml.Local(0), Acpi.Aml.Integer(PlatformLayout.GedEventPowerButton)),
                Acpi.Aml.Notify("PWRB", PowerButtonPressed)),
            pciHotplug
                ? Acpi.Aml.If(Acpi.Aml.And(Acpi.Aml.Local(0), Acpi.Aml.Integer(PlatformLayout.GedEventPciHotplug)), Acpi.Aml.Call("\\_SB_.PHPR.PSCN"))
                : []));

    private static byte[] Com1() => Acpi.Aml.Device("COM1",
        Acpi.Aml.Name("_HID", Acpi.Aml.EisaId("PNP0501")),
        Acpi.Aml.Name("_UID", Acpi.Aml.Integer(1)),
        Acpi.Aml.Name("_CRS", Acpi.Aml.ResourceTemplate(
            AmlResource.Io(PlatformLayout.Com1Port, PlatformLayout.Com1Port, 1, 8),
            AmlResource.IrqNoFlags(PlatformLayout.Com1Irq))));

    private static byte[] Rtc() => Acpi.Aml.Device("RTC",
        Acpi.Aml.Name("_HID", Acpi.Aml.EisaId("PNP0B00")),
        Acpi.Aml.Name("_CRS", Acpi.Aml.ResourceTemplate(
            AmlResource.Io(PlatformLayout.CmosIndexPort, PlatformLayout.CmosIndexPort, 1, 2))));
}
