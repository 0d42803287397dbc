import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readmeBlocks, readmeLine, sectionBlocks } from './readme-blocks.js';

const doc = [
  '# Title',
  '## One',
  '```sh',
  'echo one   # a comment',
  '```',
  '### One, deeper',
  '```dockerfile',
  'FROM scratch',
  '',
  'COPY a /a',
  '```',
  '## Two',
  '```sh',
  'echo two',
  '```',
].join('\n');

describe('README code blocks by section', () => {
  it('takes the blocks of a section and its subsections, up to the next heading of its level', () => {
    assert.deepEqual(sectionBlocks(doc, 'One'), [
      { lang: 'sh', lines: ['echo one   # a comment'] },
      { lang: 'dockerfile', lines: ['FROM scratch', '', 'COPY a /a'] },
    ]);
    assert.deepEqual(sectionBlocks(doc, 'One, deeper'), [{ lang: 'dockerfile', lines: ['FROM scratch', '', 'COPY a /a'] }]);
    assert.deepEqual(sectionBlocks(doc, 'Two'), [{ lang: 'sh', lines: ['echo two'] }]);
  });

  it('names a missing section and an unclosed block', () => {
    assert.throws(() => sectionBlocks(doc, 'Three'), /no section titled "Three"/);
    assert.throws(() => sectionBlocks('## A\n```sh\necho', 'A'), /section "A": a code block is not closed/);
  });

  it("finds the README's Docker commands the engine tests run", () => {
    assert.equal(readmeLine('With Docker', 'docker compose up'), 'docker compose up --build -d');
    assert.match(readmeLine('Add the agent to an existing image', 'docker build'), /^docker build -f Dockerfile\.agent -t system-monitor-agent:\S+ \.$/);
    assert.equal(readmeBlocks('Add the agent to an existing image').filter((b) => b.lang === 'dockerfile').length, 2);
    assert.throws(() => readmeLine('With Docker', 'docker compose'), /expected one command starting "docker compose", found 3/);
  });
});
