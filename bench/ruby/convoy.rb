#!/usr/bin/env ruby
# convoy.rb - gilbench's convoy step in real Ruby (the GVL).
#
# The same workload as gilbench's model and bench/cpython/convoy.py:
#   * an echo process, forked before any thread starts, on the other end of
#     a UNIX socketpair;
#   * an I/O thread doing 1-byte request/response round trips (syswrite and
#     sysread release the GVL around the system call);
#   * --cpu-threads threads running a tight `n += 1` loop.
# Each thread measures itself over the same window (a shared deadline on the
# monotonic clock).  One JSON line goes to stdout, with the keys convoy.py
# prints.  Ruby has no switch-interval setting before 3.4
# (RUBY_THREAD_TIMESLICE); interval_us reports the default 100 ms quantum and
# --interval-us is accepted and ignored.

require 'json'
require 'optparse'
require 'socket'

CPU_CHUNK = 10_000 # iterations between two clock reads
QUANTUM_US = 100_000

def now
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

def percentile(sorted, q)
  n = sorted.size
  rank = [[(q * n).ceil, 1].max, n].min
  sorted[rank - 1]
end

def start_echo
  ours, theirs = UNIXSocket.pair(:STREAM)
  pid = fork do
    ours.close
    begin
      loop { theirs.syswrite(theirs.sysread(256)) }
    rescue EOFError, IOError, SystemCallError
      # the other end closed: done
    end
    exit!(0)
  end
  theirs.close
  [ours, pid]
end

def io_thread(sock, start, stop)
  latencies = []
  loop do
    t0 = now
    sock.syswrite('x')
    raise 'echo process closed the socket' unless sock.sysread(1) == 'x'
    t1 = now
    break if t0 >= stop
    latencies << (t1 - t0) if t0 >= start
  end
  latencies
end

# Count iterations between the deadlines, at chunk granularity.  The window
# is [start, stop] itself: a thread waiting for the GVL when a deadline passes
# does no iterations meanwhile, so its count is right for that window, while
# its own clock reads would be late by however long it waited.
def cpu_thread(start, stop)
  n = 0
  n_start = nil
  loop do
    limit = n + CPU_CHUNK
    n += 1 while n < limit
    t = now
    n_start = n if n_start.nil? && t >= start
    break if t >= stop
  end
  (n - n_start) / (stop - start)
end

opts = { seconds: 1.0, warmup: 0.1, cpu_threads: 1, io: 1, interval_us: QUANTUM_US }
OptionParser.new do |o|
  o.on('--seconds S', Float) { |v| opts[:seconds] = v }
  o.on('--warmup S', Float) { |v| opts[:warmup] = v }
  o.on('--cpu-threads N', Integer) { |v| opts[:cpu_threads] = v }
  o.on('--io N', Integer) { |v| opts[:io] = v }
  o.on('--interval-us US', Integer) { |v| opts[:interval_us] = v }
end.parse!
abort 'convoy.rb: bad arguments' if opts[:seconds] <= 0 || opts[:cpu_threads].negative?

# Before any thread exists: a plain fork.
sock, pid = start_echo

start = now + opts[:warmup]
stop = start + opts[:seconds]
cpu = Array.new(opts[:cpu_threads]) { Thread.new { cpu_thread(start, stop) } }
io = opts[:io] == 1 ? Thread.new { io_thread(sock, start, stop) } : nil
cpu_rate = cpu.sum(&:value)
lat = io ? io.value.sort : []

sock.close # EOF ends the echo process
Process.wait(pid)

us = ->(v) { v.nil? ? nil : (v * 1e6).round(2) }
puts JSON.generate(
  runtime: 'ruby',
  version: RUBY_VERSION,
  interval_us: QUANTUM_US,
  cpu_threads: opts[:cpu_threads],
  io: opts[:io],
  seconds: opts[:seconds],
  io_count: lat.size,
  io_rate: lat.size / opts[:seconds],
  io_p50_us: lat.empty? ? nil : us.call(percentile(lat, 0.50)),
  io_p99_us: lat.empty? ? nil : us.call(percentile(lat, 0.99)),
  io_max_us: us.call(lat.last),
  cpu_rate: cpu_rate
)
