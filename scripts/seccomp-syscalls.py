#!/usr/bin/env python3
# Reads `strace -f -qq -o FILE dotnet test ...` output of whole test runs and prints, for the
# cloud-hypervisor processes in it (found by their execve; threads follow their clone flags), the
# system calls made after seccomp(SECCOMP_SET_MODE_FILTER) with their counts ("after N name"), those
# made only before it ("before-only N name") and the ioctl requests ("ioctl N NAME"). Used by
# scripts/seccomp-measure.sh to check src/CloudHypervisor/Sandbox/SeccompAllowList.cs.
# split at each process's seccomp(SECCOMP_SET_MODE_FILTER).
line_re = re.compile(r'^(\d+)\s+(.*)$')
call_re = re.compile(r'^([a-z0-9_]+)\(')
res_re = re.compile(r'^<\.\.\. ([a-z0-9_]+) resumed>')
ret_re = re.compile(r'= (-?\d+)(?: |$)')
pending = {}
parent = {}; is_thread = {}; tgid = {}; prog = {}; after = set()
before_c = collections.Counter(); after_c = collections.Counter(); ioctl_c = collections.Counter()
procs = set(); installed = set()
def tg(t):
    return tgid.get(t, t)
for path in sys.argv[1:]:
    for raw in open(path, errors='replace'):
        m = line_re.match(raw)
        if not m: continue
        tid = int(m.group(1)); rest = m.group(2)
        name = None; text = rest
        cm = call_re.match(rest)
        if cm:
            name = cm.group(1)
            if rest.endswith('<unfinished ...>'):
                pending[tid] = rest
                text = None
        else:
            rm = res_re.match(rest)
            if rm:
                name = rm.group(1); text = pending.pop(tid, '') + rest
            else:
                continue
        if cm:
            # count at the call's start
            g = tg(tid)
            if prog.get(g, '').endswith('/cloud-hypervisor'):
                procs.add(g)
                if name == 'seccomp' and 'SECCOMP_SET_MODE_FILTER' in rest:
                    after.add(g); installed.add(g)
                else:
                    (after_c if g in after else before_c)[name] += 1
                    if name == 'ioctl':
                        im = re.match(r'ioctl\(\d+(?:<[^>]*>)?, ([A-Za-z0-9_]+)', rest)
                        if im: ioctl_c[im.group(1)] += 1
        if text is None: continue
        rv = ret_re.search(text)
        if not rv: continue
        r = int(rv.group(1))
        if name in ('clone', 'clone3', 'fork', 'vfork') and r > 0:
            thread = 'CLONE_THREAD' in text
            tgid[r] = tg(tid) if thread else r
            if not thread:
                prog[r] = prog.get(tg(tid), '')
                if tg(tid) in after: after.add(r)
        elif name == 'execve' and r == 0:
            pm = re.match(r'execve\("([^"]*)"', text)
            if pm:
                g = tg(tid); prog[g] = pm.group(1); after.discard(g)
print(f'# {len(procs)} cloud-hypervisor processes, {len(installed)} installed the filter')
for k, v in sorted(after_c.items(), key=lambda kv: -kv[1]): print('after', v, k)
for k in sorted(set(before_c) - set(after_c)): print('before-only', before_c[k], k)
for k, v in sorted(ioctl_c.items(), key=lambda kv: -kv[1]): print('ioctl', v, k)
