// Regenerates the README's generated sections from the schema and the CLI (npm run docs).
import { readFileSync, writeFileSync } from 'node:fs';
import { updateReadme } from '../dist/docs/readme-sections.js';

const path = new URL('../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = updateReadme(before);
if (after !== before) writeFileSync(path, after);
console.log(after === before ? 'README.md is up to date' : 'README.md updated');
