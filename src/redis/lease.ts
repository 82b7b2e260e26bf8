// The lease script: one Redis hash per budget, one field per process, holding
// "<expiry ms> <permits held> <permits wanted>". A process calls it to set its lease: it says what
// it wants (its demand) and what it holds (its queries in flight), and gets back what it may hold
// until its lease runs out. Expiry is judged by Redis's clock (TIME), never the processes'.
//
// Our own script, not redis-semaphore's MultiSemaphore: that one stamps leases with the client's
// Date.now() and leases a fixed number of permits per instance, where this budget needs Redis's
// clock, one lease per process resized by its demand, shares fair between processes, and a guard
// after a restart.

/**
 * KEYS[1]: the budget's hash. ARGV: process id, permits wanted, permits held now, the limit, the
 * lease in ms, 1 to read Redis's uptime (the caller's first call on a new connection). Returns
 * { granted, processes wanting permits, 1 while the guard is on, this process's fair share of what
 * it wants, 1 if another process holds less than its share, processes with a live lease (this one
 * counted) }.
 *
 * - Leases past their expiry (by TIME) are removed: a process killed stops renewing, and its
 *   permits come back when its lease runs out.
 * - The grant is this process's max-min fair share of the limit among the processes that want
 *   permits, and never more than the limit less what the others hold (so the sum of what
 *   processes may hold never passes the limit, whatever order they call in).
 * - What is recorded is the larger of the grant and what the process holds now: a process whose
 *   share shrank keeps its queries in flight (they are not preempted), and the others are not
 *   granted those permits until they come back.
 * - The guard: for two leases it grants a process only what it holds already, when leases may be
 *   held that the hash does not show: the state is fresh (no guard field '~': Redis restarted with
 *   its state lost, or the budget's first call) and Redis is younger than two leases, or nobody
 *   called for a whole lease while leases were live (Redis was away: those processes may be on
 *   their safe share, which they take one lease after their own lease ran out). Redis's uptime
 *   (INFO server) is read for fresh state and on a caller's first call on each new connection: a
 *   Redis that restarted closed every connection, so a restart that loaded recent state (an RDB
 *   saved just before a crash, AOF everysec: the last calls lost) is seen by the first process
 *   back. Not covered: the key flushed or evicted while Redis runs on.
 * - Commands per call: EVALSHA, TIME, HGETALL, one HSET (its own field and '~' together); INFO on
 *   fresh state and a connection's first call, HDEL for leases past their expiry and for its own
 *   field when it wants and holds nothing (then the HSET writes '~' only), PUBLISH when the others
 *   should call now (see the end of the script).
 * - Calling again with the same arguments gives the same grant (idempotent), so a renewal that
 *   timed out on the way back can simply be sent again.
 */
export const LEASE_SCRIPT = `
local key = KEYS[1]
local id = ARGV[1]
local want = tonumber(ARGV[2])
local held = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local leaseMs = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local others = 0
local live = 1
local wants = {}
local holdings = {}
local expired = {}
-- The guard field '~': "<guard until> <last call> <live leases after it>", times by TIME.
local guardUntil = 0
local lastCall = nil
local liveThen = 0
local fresh = true
local mine = false
local myHolds = 0
local fields = redis.call('HGETALL', key)
for i = 1, #fields, 2 do
  local f = fields[i]
  if f == '~' then
    fresh = false
    local g, l, n = string.match(fields[i + 1], '^(%d+) (%d+) (%d+)$')
    guardUntil = tonumber(g) or 0
    lastCall = tonumber(l)
    liveThen = tonumber(n) or 0
  elseif f == id then
    mine = true
    myHolds = tonumber(string.match(fields[i + 1], '^%d+ (%d+) %d+$') or '0') or 0
  else
    local e, h, w = string.match(fields[i + 1], '^(%d+) (%d+) (%d+)$')
    -- A value that does not parse counts as expired: one bad field must not stop every call.
    if e == nil or tonumber(e) <= now then
      expired[#expired + 1] = f
    else
      live = live + 1
      others = others + tonumber(h)
      if tonumber(w) > 0 then
        wants[#wants + 1] = tonumber(w)
        holdings[#holdings + 1] = { tonumber(h), tonumber(w) }
      end
    end
  end
end
for k = 1, #expired, 500 do
  redis.call('HDEL', key, unpack(expired, k, math.min(k + 499, #expired)))
end
-- The guard: for two leases, grant a process only what it holds already, when leases may be held
-- that this state does not show: the state is fresh (no '~': Redis restarted with its state lost,
-- or the first call) and Redis is younger than two leases, or no call for a whole lease while
-- leases were live (nobody could renew: Redis was away, and those processes may be on their safe
-- share). INFO only for fresh state and a caller's first call on a new connection (every
-- connection closes when Redis restarts; renewals on a connection need not ask again). (Uptime
-- comes in whole seconds: Redis started at most up seconds ago, so the guard runs two leases from
-- then.)
if fresh or ARGV[6] == '1' then
  local up = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)') or '0')
  guardUntil = math.max(guardUntil, now - up * 1000 + 2 * leaseMs)
end
if lastCall ~= nil and liveThen > 0 and now - lastCall > leaseMs then
  guardUntil = math.max(guardUntil, now + 2 * leaseMs)
end
local booting = now < guardUntil
local level = limit
local spare = 0
if want > 0 then
  wants[#wants + 1] = want
  table.sort(wants)
  local left = limit
  for k = 1, #wants do
    local share = math.floor(left / (#wants - k + 1))
    if wants[k] <= share then
      left = left - wants[k]
    else
      level = share
      break
    end
  end
  -- What the fair shares leave over (the limit does not divide evenly), less what others already
  -- hold past their shares: to whoever asks first.
  spare = limit
  for k = 1, #wants do spare = spare - math.min(wants[k], level) end
  for k = 1, #holdings do
    spare = spare - math.max(0, holdings[k][1] - math.min(holdings[k][2], level))
  end
  if spare < 0 then spare = 0 end
end
-- Contended: another process holds less than its fair share (it waits for permits this one may
-- hold): no spare for this one then, and it should renew soon, to give back past its own share.
-- Over: another holds past its fair share (see the channel, at the end).
local contended = 0
local over = false
for k = 1, #holdings do
  local share = math.min(holdings[k][2], level)
  if holdings[k][1] < share then contended = 1 end
  if holdings[k][1] > share then over = true end
end
if contended == 1 then spare = 0 end
local free = limit - others
local grant = math.min(want, level + spare, free)
if booting then grant = math.min(held, free) end
if grant < 0 then grant = 0 end
local holds = math.max(grant, held)
-- Tell the others to call now (one message on the budget's channel, KEYS[1] .. '#'), rather than
-- at their next renewal: when this one is short of its share while another holds past its own
-- (the holder gives back), and when this one records less than before while another holds less
-- than its share (the short one takes it up).
if not booting and ((want > 0 and grant < math.min(want, level) and over) or (holds < myHolds and contended == 1)) then
  redis.call('PUBLISH', key .. '#', '1')
end
-- One write: its own field and '~' together (its field deleted when it wants and holds nothing).
if holds == 0 and want == 0 then
  if mine then redis.call('HDEL', key, id) end
  live = live - 1
  redis.call('HSET', key, '~', guardUntil .. ' ' .. now .. ' ' .. live)
else
  redis.call('HSET', key, id, (now + leaseMs) .. ' ' .. holds .. ' ' .. want, '~', guardUntil .. ' ' .. now .. ' ' .. live)
end
return { grant, #wants, booting and 1 or 0, math.min(want, level), contended, live }
`;
