// dnsgate/redis: one gate shared by many processes and machines, on Redis (needs ioredis).
export { createRedisGate, RedisGate, type RedisGateOptions, type RedisGateView } from './gate.js';
