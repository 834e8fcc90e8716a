"""The Lua scripts a cluster node runs in Redis (:mod:`tcpchat.server.redis_hub`).

Each runs atomically: no other node's command lands between its steps. The
comment above each says what its KEYS and ARGV are; ``docs/scaling.md`` has the
key layout, and why the append script takes a whole pass at once.
"""

from __future__ import annotations

# One pass's room events, each to its room's stream, with ids from the cluster's counter,
# all in one script: one round trip a pass, and no node can slip an id in between, so each
# room's stream order is its id order. KEYS[1]: the id counter; then per room (slot s from
# 1) its event stream, history stream, event count and modes hash at KEYS[4s-2], KEYS[4s-1],
# KEYS[4s], KEYS[4s+1].
# ARGV: the counter's floor, the stream cap, the history cap (0: none), the number of
# events, the node's name, then per slot the number of its events, then per event: its
# room's slot, its sequence number on the node (the entry's origin is NODE:SEQ), its
# announcement token ("" for one room: no field then), its JSON (id 0: the entry's id is
# the event's), and said (0/1: a line for the room's history, only when the node keeps
# history), followed when said by the six history fields' values; or, instead of said, m
# (c: the join that made the room, marked 'c' in its entry) followed by the number of
# changes to the room's modes hash written with the event, then each change: set, del or
# move, a field and a value (server/cluster_moderation.py; a nick change moves two fields;
# the hash's 'at' says the last event that changed it). A join marked c whose room has an
# operator already ("op:" fields: its maker's node had not heard of the room's members yet,
# or another node made it a moment before) is written as any join is, unmarked, deleting
# its own field, and stamped in 'at', so that its node takes the hash's view as it loads
# it. The counter and each room's count take one INCRBY a pass, before anything is
# appended: each command costs Redis tens of µs
# when it runs cold (docs/scaling-measured.md, "Written as it arrives"). (A counter below the floor,
# Redis back empty, is then set above it: a SET more.) A count that cannot be raised (not
# a number, another type) undoes the counts raised before it, and the script returns its
# error with nothing appended (the ids it took are only a gap in the counter; a count that
# was missing is left at 0). Returns the first id handed out, then each slot's room count
# before the pass (a node that has read that far hears its events at once:
# RedisHub._deliver_sent).
# (Arguments and calls per event cost the node and Redis alike: measured in
# docs/scaling.md, "The hub, measured".)
APPEND = """
local count = tonumber(ARGV[4])
local last = redis.call('INCRBY', KEYS[1], count) - count
local floor = tonumber(ARGV[1])
if floor > last then
  last = floor
  redis.call('SET', KEYS[1], last + count)
end
local cap, history_cap, origin = ARGV[2], ARGV[3], ARGV[5] .. ':'
local slots = (#KEYS - 1) / 4
local counts, reply = {}, {last + 1}
for slot = 1, slots do
  local raised = redis.pcall('INCRBY', KEYS[slot * 4], ARGV[5 + slot])
  if type(raised) == 'table' then
    for undo = 1, slot - 1 do redis.call('DECRBY', KEYS[undo * 4], ARGV[5 + undo]) end
    return raised
  end
  counts[slot] = raised - tonumber(ARGV[5 + slot])
  reply[slot + 1] = counts[slot]
end
local i = 6 + slots
for j = 1, count do
  local slot = tonumber(ARGV[i])
  local n = counts[slot] + 1
  counts[slot] = n
  local id = (last + j) .. '-0'
  local stream = KEYS[slot * 4 - 2]
  local mark = ARGV[i + 4]
  local refused = false
  if mark == 'c' then
    local held = redis.pcall('HGETALL', KEYS[slot * 4 + 1])  -- (HGETALL: in the ACL's rules)
    if held.err == nil then
      for f = 1, #held, 2 do
        if string.sub(held[f], 1, 3) == 'op:' then refused = true break end
      end
    end
  end
  if ARGV[i + 2] ~= '' then
    redis.pcall('XADD', stream, 'MAXLEN', '~', cap, id, 'e', ARGV[i + 3],
                'o', origin .. ARGV[i + 1], 'a', ARGV[i + 2], 'n', n)
  elseif mark == 'c' and not refused then
    redis.pcall('XADD', stream, 'MAXLEN', '~', cap, id, 'e', ARGV[i + 3],
                'o', origin .. ARGV[i + 1], 'c', '1', 'n', n)
  else
    redis.pcall('XADD', stream, 'MAXLEN', '~', cap, id, 'e', ARGV[i + 3],
                'o', origin .. ARGV[i + 1], 'n', n)
  end
  if mark == '1' then
    local line = {id, 'ts', ARGV[i + 5], 'room', ARGV[i + 6], 'kind', ARGV[i + 7],
                  'nick', ARGV[i + 8], 'text', ARGV[i + 9], 'sources', ARGV[i + 10]}
    if history_cap == '0' then
      redis.pcall('XADD', KEYS[slot * 4 - 1], unpack(line))
    else
      redis.pcall('XADD', KEYS[slot * 4 - 1], 'MAXLEN', '~', history_cap, unpack(line))
    end
    i = i + 11
  elseif mark == '0' then
    i = i + 5
  else
    local modes, changes = KEYS[slot * 4 + 1], tonumber(ARGV[i + 5])
    local changed = refused
    for c = i + 6, i + 3 + changes * 3, 3 do
      local action, name, value = ARGV[c], ARGV[c + 1], ARGV[c + 2]
      if refused then action = 'del' end
      if action == 'set' then
        changed = (redis.pcall('HSET', modes, name, value) ~= nil) or changed
      elseif action == 'del' then
        changed = (redis.pcall('HDEL', modes, name) == 1) or changed
      else
        local held = redis.pcall('HGET', modes, name)
        if type(held) == 'string' then
          redis.pcall('HDEL', modes, name)
          changed = (redis.pcall('HSET', modes, value, held) ~= nil) or changed
        end
      end
    end
    if changed then redis.pcall('HSET', modes, 'at', last + j) end
    i = i + 6 + changes * 3
  end
end
return reply
"""
# The heartbeat: every KEYS after the first (the nicknames this node holds) lives ARGV[1]
# more seconds. One command, however many members: a thousand EXPIREs in a pipeline cost
# the node's event loop 25 ms of redis-py's packing and parsing every heartbeat. ARGV[2] is
# the node's name and a space (its values' prefix), then each nickname's value, in KEYS'
# order. A nickname whose key lapsed (Redis away, or the node stalled, past the key's
# lifetime, and no sweep since) is taken again; one another node took meanwhile is not,
# and its position among the nicknames (from 1) is returned. KEYS[1] is the mark a sweep
# leaves on the node (SWEEP). Returns whether the mark is there (0/1), then those positions.
# (The node deletes the mark once it has registered its members again: a try cut short
# finds it the next time.)
EXPIRE = """
local reply = {redis.call('EXISTS', KEYS[1])}
local ours = ARGV[2]
for i = 2, #KEYS do
  local held = redis.call('GET', KEYS[i])
  if not held then
    redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1])
  elseif string.sub(held, 1, #ours) == ours then
    redis.call('EXPIRE', KEYS[i], ARGV[1])
  else
    reply[#reply + 1] = i - 1
  end
end
return reply
"""
# Members described to the cluster, in order: per member, its record in its node's presence
# hash (KEYS[i + 1]) and an entry on the presence feed (KEYS[1]). ARGV: the feed's cap, then
# per member its node, its nick key and its record ("": it has gone, so HDEL). One command
# for a heartbeat's thousand descriptions, instead of two thousand.
DESCRIBE = """
local cap = ARGV[1]
for i = 2, #KEYS do
  local a = i * 3 - 4
  local node, key, value = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local op = 'user'
  if value == '' then
    op = 'gone'
    redis.call('HDEL', KEYS[i], key)
  else
    redis.call('HSET', KEYS[i], key, value)
  end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', cap, '*', 'node', node, 'op', op, 'key', key,
             'v', value)
end
return #KEYS - 1
"""
# An entry for a member of another node, written to that node's inbox only while the node
# lives (its heartbeat key): a node that left or was swept has its inbox deleted, and an
# entry written after that would make the inbox again, with no one to read or delete it.
# KEYS: the node's heartbeat key, its inbox. ARGV: the inbox's cap, then the entry's fields
# and values. Returns 1, or 0 when the node is gone (nothing written).
DIRECT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 2))
return 1
"""
# Delete KEYS[1] only if it holds ARGV[1]: a node frees only the nicknames it holds.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# A sweep of a node whose heartbeat expired: checked and done in one step, so that a node
# back meanwhile keeps what it registered, and one sweeper alone does it (the one whose SREM
# takes the node off the node set; done here, so that a sweeper cut off before this step
# leaves the node for the next one, not swept by no one and listed for good).
# KEYS: the node set, the node's heartbeat key, its presence hash, its inbox, its sweep
# mark. ARGV: the node, the mark's lifetime (seconds). If the node is back (its heartbeat
# key), nothing is done: returns 0; if another sweeper took it off the node set first,
# nothing either: returns -1. Otherwise the hash and the inbox are deleted, and the mark
# tells the node, at its next heartbeat, that it was swept (its own writes may have made
# its hash again meanwhile) until it has registered its members again. Returns 1. Its
# members are gone for the other nodes, and their nicknames free, at FREE, once their
# leavings are in their rooms.
SWEEP = """
local node = ARGV[1]
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SREM', KEYS[1], node) == 0 then return -1 end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('SET', KEYS[5], '1', 'EX', ARGV[2])
return 1
"""
# A swept node's members gone and their nicknames freed, after their leavings went to
# their rooms: a node lets a member take one of these nicknames once it reads that its
# holder is gone, and that member then joins a room after the leaving, in every room's
# order. KEYS: the node's heartbeat key, the presence feed, then the nicknames' owner keys.
# ARGV: the node, the feed's cap, then the members' keys. Nothing is done if the node is
# back (its heartbeat key: it registers them again): returns 0. Otherwise each member is
# gone on the feed, and each nickname freed where the node still holds it (its value
# starts with "NODE "), never one someone has taken since. Returns 1.
FREE = """
local node = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local held = node .. ' '
for i = 3, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value and string.sub(value, 1, #held) == held then redis.call('DEL', KEYS[i]) end
end
for i = 3, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'node', node, 'op', 'gone',
             'key', ARGV[i], 'v', '')
end
return 1
"""
