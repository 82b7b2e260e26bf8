// Argument errors as node throws them: the same class, `code` and message, so a drop-in for
// `dns.promises.Resolver` fails where node fails and reads the same.
import { inspect } from 'node:util';
import { nodeError } from './errors.js';

/** What node's messages say of a value it received (`Received type number (1)`, ...). */
function received(value: unknown): string {
  if (value === null || value === undefined) return `Received ${value}`;
  if (typeof value === 'function') return `Received function ${value.name}`;
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
    return ctor ? `Received an instance of ${ctor}` : `Received ${inspect(value, { depth: -1 })}`;
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28 && typeof value === 'string') shown = `${shown.slice(0, 25)}...`;
  return `Received type ${typeof value} (${shown})`;
}

/**
 * Node's ERR_INVALID_ARG_TYPE for an argument (`The "name" argument must be of type string.`) or
 * a property (`name` with a dot: `The "options.timeout" property must be of type number.`).
 *
 * @example
 * ```ts
 * throw invalidArgType('name', 'of type string', 123); // Received type number (123)
 * ```
 */
export function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  const what = name.includes('.') ? 'property' : 'argument';
  return nodeError(
    new TypeError(`The "${name}" ${what} must be ${expected}. ${received(value)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

/**
 * Node's ERR_INVALID_ARG_VALUE.
 *
 * @example
 * ```ts
 * throw invalidArgValue("The argument 'rrtype' is invalid. Received 'BOGUS'");
 * ```
 */
export function invalidArgValue(message: string, native = false): TypeError {
  return nodeError(new TypeError(message), 'ERR_INVALID_ARG_VALUE', native);
}

/** Node's ERR_INVALID_IP_ADDRESS (`Invalid IP address: foobar`). */
export function invalidIpAddress(value: string): TypeError {
  return nodeError(new TypeError(`Invalid IP address: ${value}`), 'ERR_INVALID_IP_ADDRESS');
}

/** Node's ERR_OUT_OF_RANGE (`The value of "x" is out of range. It must be ... Received ...`). */
export function outOfRange(name: string, range: string, value: number): RangeError {
  let shown = String(value);
  if (Number.isInteger(value) && Math.abs(value) > 2 ** 32)
    shown = shown.replace(/\B(?=(\d{3})+(?!\d))/g, '_');
  else if (Object.is(value, -0)) shown = '-0';
  return nodeError(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`),
    'ERR_OUT_OF_RANGE',
  );
}

/**
 * Node's `validateString`: throws ERR_INVALID_ARG_TYPE unless `value` is a string.
 *
 * @example
 * ```ts
 * checkString(name, 'name');
 * ```
 */
export function checkString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
}

/**
 * Node's `validateInt32(value, name, min)` with `max` 2^31-1: ERR_INVALID_ARG_TYPE for a
 * non-number, ERR_OUT_OF_RANGE for a non-integer or a number outside the range.
 *
 * @example
 * ```ts
 * checkInt32(options.timeout, 'options.timeout', -1);
 * ```
 */
export function checkInt32(value: unknown, name: string, min: number, max = 2 ** 31 - 1): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
  return value;
}
