namespace CloudHypervisor.Vmm.Kvm;

/// <summary>
/// What every vCPU thread of one VM obeys: pause, stop, or park after the guest ended its run.
/// One monitor; vCPU threads check it before each KVM_RUN and park on it, Pause/Resume/Shutdown
/// change it and wait for the parked count.
/// </summary>
internal sealed class VcpuControl(int vcpuCount)
{
    private readonly object _lock = new();
    private int _parked;
    private bool _pause;
    private bool _stop;
    private bool _exited;

    public int VcpuCount { get; } = vcpuCount;

    /// <summary>True while the threads should stay out of KVM_RUN.</summary>
    private bool MustPark => _pause || _stop || _exited;

    /// <summary>
    /// Called by a vCPU thread before KVM_RUN: parks while paused; false when the thread must end.
    /// When runnable it clears immediate_exit under the lock: a Pause decided before this point
    /// parks the thread here, one decided after sets immediate_exit again before its kick.
    /// </summary>
    public bool WaitUntilRunnable(Interop.KvmVcpuFd vcpu)
    {
        lock (_lock)
        {
            if (!MustPark)
            {
                vcpu.ImmediateExit = false;
                return true;
            }

            _parked++;
            Monitor.PulseAll(_lock);
            while (MustPark && !_stop)
            {
                Monitor.Wait(_lock);
            }

            _parked--;
            return !_stop;
        }
    }

    /// <summary>Called by a vCPU thread as it ends.</summary>
    public void ThreadEnded()
    {
        lock (_lock)
        {
            _parked++;
            Monitor.PulseAll(_lock);
        }
    }

    public void RequestPause()
    {
        lock (_lock)
        {
            _pause = true;
        }
    }

    public void RequestStop()
    {
        lock (_lock)
        {
            _stop = true;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>The guest ended its run: every vCPU parks until Shutdown.</summary>
    public void MarkExited()
    {
        lock (_lock)
        {
            _exited = true;
        }
    }

    public void Resume(Action beforeRelease)
    {
        lock (_lock)
        {
            beforeRelease();
            _pause = false;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Waits until every vCPU thread is parked or ended; false on timeout.</summary>
    public bool WaitAllParked(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_lock)
        {
            while (_parked < VcpuCount)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    return false;
                }

                Monitor.Wait(_lock, left);
            }

            return true;
        }
    }
}
