import { describe, expect, it } from 'vitest';

import { code, file, join } from '../src/emit/code.ts';
import { wrap } from '../src/emit/text.ts';

describe('code', () => {
  const cases: [string, { given: () => string; want: string }][] = [
    ['dedents the template', { given: () => code`
        a
          b
      `, want: 'a\n  b' }],
    ['indents a multi-line value to its placeholder', { given: () => code`
        {
            ${'x;\ny;'}
        }
      `, want: '{\n    x;\n    y;\n}' }],
    ['puts array items on their own lines', { given: () => code`
        f(
            ${['a,', 'b,']}
        )
      `, want: 'f(\n    a,\n    b,\n)' }],
    ['drops lines whose only value is empty', { given: () => code`
        a
        ${null}
        ${[]}
        ${false}
        b
      `, want: 'a\nb' }],
    ['keeps inline values', { given: () => code`let ${'x'} = ${1};`, want: 'let x = 1;' }],
    ['trims trailing spaces', { given: () => code`
        a ${''}
        b
      `, want: 'a\nb' }],
    ['nests', { given: () => code`
        outer {
            ${code`
              inner {
                  ${['1', '2']}
              }
            `}
        }
      `, want: 'outer {\n    inner {\n        1\n        2\n    }\n}' }],
  ];
  it.each(cases)('%s', (_, { given, want }) => {
    expect(given()).toBe(want);
  });

  it('join skips empty items', () => {
    expect(join(['a', null, '', ['b', 'c']], ', ')).toBe('a, b\nc');
  });

  it('file ends with exactly one newline and has no trailing spaces', () => {
    expect(file('a  ', '', 'b\n\n\n')).toBe('a\n\nb\n');
  });

  it('wraps words to a width', () => {
    expect(wrap('one two three four five', 9)).toEqual(['one two', 'three', 'four five']);
    expect(wrap('a\n\nb', 80)).toEqual(['a', '', 'b']);
  });
});
