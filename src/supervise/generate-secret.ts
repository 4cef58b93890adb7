import { randomInt } from 'node:crypto';
import type { DesiredSecret } from './types.js';

const ALPHABETS: Record<DesiredSecret['alphabet'], string> = {
  alphanumeric: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  hex: '0123456789abcdef',
  base64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
};

/** A uniformly random secret (crypto.randomInt draws without modulo bias). */
export function generateSecret(length: number, alphabet: DesiredSecret['alphabet']): string {
  const chars = ALPHABETS[alphabet];
  let out = '';
  for (let i = 0; i < length; i++) out += chars[randomInt(chars.length)];
  return out;
}
