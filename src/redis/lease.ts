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
 * lease in ms, 1 to read Redis's uptime (the caller's first call on a new connection), 1 if the
 * caller is back from Redis being away; want -1 (a gate's first call) returns at once, having read
 * and written nothing. Returns
 * { granted, processes wanting permits, 1 while the guard is on, this process's fair share of what
 * it wants, 1 if another process holds less than its share, processes with a live lease (this one
 * counted), Redis's time in µs (a string) }.
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
 * - Hand-out: what no lease records after this call goes at once to the processes below their
 *   fair share, written in their fields (their expiry kept: each uses them until its own lease
 *   runs out, by its own clock) and named in one message on the budget's channel (KEYS[1] .. '#'):
 *   "<Redis time, µs> <level> [<process>:<permits recorded>]...". The same message, with the fair
 *   level, goes out when a process is short while another holds past its share: that one stops
 *   starting queries past the level and calls once it is down to it, and that call hands the rest
 *   on. (Level 0: nobody is short.) So a share moves in one call of the holder's, and none of the
 *   taker's. Not while the guard is on.
 * - Commands per call: EVALSHA, TIME, HGETALL, one HSET (its own field, those it hands permits to,
 *   and '~'); INFO on fresh state and a connection's first call; HDEL for leases past their
 *   expiry; PUBLISH as above. A process leaving (wanting and holding nothing): EVALSHA and HDEL of
 *   its field, and if it had one, TIME and HGETALL to hand its permits on (then HSET and PUBLISH).
 * - Calling again with the same arguments is safe (a renewal that timed out on the way back can
 *   simply be sent again): it records the same and grants at least as much.
 */
export const LEASE_SCRIPT = `
local key = KEYS[1]
local id = ARGV[1]
local want = tonumber(ARGV[2])
local held = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local leaseMs = tonumber(ARGV[5])
-- A gate's first call (want -1) only shows that the script runs: one command.
if want < 0 then return { 0, 0, 0, 0, 0, 0, '0' } end
-- Leaving (close, or idle): its field goes. A process that had none (the first call of a gate,
-- say) is done then: two commands.
local leaving = want == 0 and held == 0
if leaving and redis.call('HDEL', key, id) == 0 then return { 0, 0, 0, 0, 0, 0, '0' } end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Redis's time in microseconds, as a string (Lua would print the number in 14 digits): the gates
-- order this call's reply and message against the others'.
local stamp = t[1] .. string.format('%06d', tonumber(t[2]))
local others = 0
local live = leaving and 0 or 1
local wants = {}
-- The others wanting permits: { field, expiry, holds, wants }.
local holdings = {}
local expired = {}
-- The guard field '~': "<guard until> <last call>", times by TIME.
local guardUntil = 0
local lastCall = nil
local storedGuard = nil
-- Every lease's expiry: those past the last call were live then.
local expiries = {}
local fresh = true
local mine = false
local fields = redis.call('HGETALL', key)
for i = 1, #fields, 2 do
  local f = fields[i]
  if f == '~' then
    fresh = false
    local g, l = string.match(fields[i + 1], '^(%d+) (%d+)')
    guardUntil = tonumber(g) or 0
    storedGuard = guardUntil
    lastCall = tonumber(l)
  elseif f == id then
    mine = true
    local e = string.match(fields[i + 1], '^(%d+) %d+ %d+$')
    expiries[#expiries + 1] = tonumber(e or '0') or 0
  else
    local e, h, w = string.match(fields[i + 1], '^(%d+) (%d+) (%d+)$')
    -- Expired or not (nobody deleted it: nobody called since it ran out).
    if e ~= nil then expiries[#expiries + 1] = tonumber(e) end
    -- A value that does not parse counts as expired: one bad field must not stop every call.
    if e == nil or tonumber(e) <= now then
      expired[#expired + 1] = f
    else
      live = live + 1
      others = others + tonumber(h)
      if tonumber(w) > 0 then
        wants[#wants + 1] = tonumber(w)
        holdings[#holdings + 1] = { f, tonumber(e), tonumber(h), tonumber(w) }
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
-- A caller back from Redis being away (ARGV[7] == '1': its calls failed, it may be on its safe
-- share, and so may others) that finds the state lost: two leases from now. (Redis's uptime counts
-- from its start, and loading a large data file, or coming back after a long outage, can take
-- longer than two leases.)
if fresh and ARGV[7] == '1' then guardUntil = math.max(guardUntil, now + 2 * leaseMs) end
-- Leases live at the last call: those that run out after it (a process leaving deletes its own).
local liveThen = 0
if lastCall ~= nil then
  for k = 1, #expiries do
    if expiries[k] > lastCall then liveThen = liveThen + 1 end
  end
end
if lastCall ~= nil and liveThen > 0 and now - lastCall > leaseMs then
  guardUntil = math.max(guardUntil, now + 2 * leaseMs)
end
local booting = now < guardUntil
-- The max-min fair level: every process wanting more than it gets it.
if want > 0 then wants[#wants + 1] = want end
table.sort(wants)
local level = limit
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
local spare = 0
if want > 0 then
  -- What the fair shares leave over (the limit does not divide evenly), less what others already
  -- hold past their shares: to whoever asks first.
  spare = limit
  for k = 1, #wants do spare = spare - math.min(wants[k], level) end
  for k = 1, #holdings do
    spare = spare - math.max(0, holdings[k][3] - math.min(holdings[k][4], level))
  end
  if spare < 0 then spare = 0 end
end
-- Contended: another process holds less than its fair share (it waits for permits this one may
-- hold): no spare for this one then, and it should renew soon, to give back past its own share.
-- Over: another holds past its fair share.
local contended = 0
local over = false
for k = 1, #holdings do
  local share = math.min(holdings[k][4], level)
  if holdings[k][3] < share then contended = 1 end
  if holdings[k][3] > share then over = true end
end
if contended == 1 then spare = 0 end
local free = limit - others
local grant = math.min(want, level + spare, free)
if booting then grant = math.min(held, free) end
if grant < 0 then grant = 0 end
local holds = math.max(grant, held)
-- What no lease records goes to the others below their fair share, in their fields (their expiry
-- kept: each uses them until its own lease runs out), and the message names them, so they need
-- not call for them.
local write = {}
local handed = ''
-- Short: a process (this one too) below its fair share once these are handed out.
local short = want > 0 and grant < math.min(want, level)
if not booting then
  local unheld = free - holds
  for k = 1, #holdings do
    local h = holdings[k]
    local give = math.max(0, math.min(math.min(h[4], level) - h[3], unheld))
    if give > 0 then
      unheld = unheld - give
      write[#write + 1] = h[1]
      write[#write + 1] = h[2] .. ' ' .. (h[3] + give) .. ' ' .. h[4]
      handed = handed .. ' ' .. h[1] .. ':' .. (h[3] + give)
    end
    if h[3] + give < math.min(h[4], level) then short = true end
  end
end
-- The budget's channel (KEYS[1] .. '#'): "<stamp> <level> <live leases> <processes wanting>
-- [<field>:<permits now recorded>]...", when permits were handed out, when this one is short of
-- its share while another holds past its own, and when this one joins others (they count it:
-- their rate share and their safe share while Redis is away). The level is 0 when nobody is short:
-- those past it stop starting queries beyond it only when someone is (and call once down to it,
-- which gives the rest back and hands it on).
if handed ~= '' or (not booting and short and over) or (not mine and want > 0 and live > 1) then
  -- (No level while the guard is on: a holder that gave back would see its permits sit idle.)
  local told = (short and not booting) and level or 0
  redis.call('PUBLISH', key .. '#', stamp .. ' ' .. told .. ' ' .. live .. ' ' .. #wants .. handed)
end
-- One write: its own field, those handed permits, and '~'. A process leaving writes '~' only when
-- something changed that it records (expired leases deleted, the guard turned on, permits handed):
-- it deleted its own field, and leases live at the last call are counted from the rest.
if not leaving then
  write[#write + 1] = id
  write[#write + 1] = (now + leaseMs) .. ' ' .. holds .. ' ' .. want
end
if #write > 0 or #expired > 0 or guardUntil ~= storedGuard then
  write[#write + 1] = '~'
  write[#write + 1] = guardUntil .. ' ' .. now
  for k = 1, #write, 1000 do
    redis.call('HSET', key, unpack(write, k, math.min(k + 999, #write)))
  end
end
return { grant, #wants, booting and 1 or 0, math.min(want, level), contended, live, stamp }
`;
