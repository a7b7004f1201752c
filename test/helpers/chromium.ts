/**
 * The Chromium that browser suites drive with playwright-core (which never downloads a browser):
 *
 *   1. SPOOL_TEST_CHROMIUM, if set (a path to a Chromium or Chrome binary);
 *   2. the system's: `chromium` or `chromium-browser` on PATH (Debian's package installs /usr/bin/chromium);
 *   3. else the headless Chromium shipped inside the @sparticuz/chromium devDependency (brotli-packed in the
 *      npm package itself), unpacked once per machine into <tmpdir>/spool-test-chromium-<version>/, with a
 *      fontconfig file naming the machine's fonts and the package's own (FONTCONFIG_FILE in `env`).
 *
 * The unpacking runs the package's own `executablePath()` in a child process whose TMPDIR is a fresh staging
 * folder, then renames that folder into place: concurrent runs never see half a binary (the package alone
 * unpacks straight into <tmpdir>/chromium and answers "ready" as soon as that path exists).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

export interface ChromiumBinary {
  readonly executablePath: string;
  readonly source: 'SPOOL_TEST_CHROMIUM' | 'system' | '@sparticuz/chromium';
  /** Environment the browser needs on top of the test process's (fonts for the packaged build). */
  readonly env: Readonly<Record<string, string>>;
}

const SYSTEM_NAMES = ['chromium', 'chromium-browser'];
const FONTS_CONF = 'spool-fonts.conf';

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The system's Chromium on PATH (and /usr/bin, where Debian puts it), or undefined. */
export function systemChromium(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin'];
  for (const name of SYSTEM_NAMES) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

/** Unpack @sparticuz/chromium (once per machine and package version); the binary's path. */
export function packagedChromium(): string {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('@sparticuz/chromium');
  } catch (error) {
    throw new Error('no Chromium: none on PATH, SPOOL_TEST_CHROMIUM unset, and the @sparticuz/chromium devDependency is not installed (npm install)', { cause: error });
  }
  // <project>/node_modules/@sparticuz/chromium/build/cjs/index.cjs: the package folder is three levels up.
  const packageDir = join(dirname(entry), '..', '..');
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const home = join(tmpdir(), `spool-test-chromium-${version}`);
  const binary = join(home, 'chromium');
  if (isExecutableFile(binary) && existsSync(join(home, FONTS_CONF))) return binary;

  const staging = mkdtempSync(join(tmpdir(), 'spool-test-chromium-staging-'));
  try {
    // The package's own unpacker, pointed at the staging folder (it writes to os.tmpdir()).
    const script = `import('@sparticuz/chromium').then((m) => m.default.executablePath()).then((p) => process.stdout.write(p))`;
    const unpacked = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(packageDir, '..', '..', '..'), // the project: where the import resolves
      env: { ...process.env, TMPDIR: staging, TMP: staging, TEMP: staging },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    if (unpacked !== join(staging, 'chromium')) throw new Error(`@sparticuz/chromium unpacked to ${unpacked}, expected ${join(staging, 'chromium')}`);
    // The package's fonts.conf names Lambda's folders (/tmp/fonts…): ours names the machine's fonts (if any)
    // and the package's own (Open Sans), at the folder's final place.
    writeFileSync(
      join(staging, FONTS_CONF),
      [
        '<?xml version="1.0"?>',
        '<!DOCTYPE fontconfig SYSTEM "fonts.dtd">',
        '<fontconfig>',
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>',
        `  <dir>${join(home, 'fonts', 'fonts')}</dir>`,
        `  <cachedir>${join(home, 'fonts-cache')}</cachedir>`,
        '</fontconfig>',
        '',
      ].join('\n'),
    );
    try {
      renameSync(staging, home);
    } catch (error) {
      // Another run put its copy in place first: use that one.
      if (!isExecutableFile(binary)) throw error;
    }
  } finally {
    if (existsSync(staging)) rmSync(staging, { recursive: true, force: true });
  }
  return binary;
}

/** The Chromium to launch (see the file comment). */
export function findChromium(): ChromiumBinary {
  const fromEnv = process.env.SPOOL_TEST_CHROMIUM?.trim();
  if (fromEnv) {
    if (!isExecutableFile(fromEnv)) throw new Error(`SPOOL_TEST_CHROMIUM=${fromEnv} is not an executable file`);
    return { executablePath: fromEnv, source: 'SPOOL_TEST_CHROMIUM', env: {} };
  }
  const system = systemChromium();
  if (system) return { executablePath: system, source: 'system', env: {} };
  const packaged = packagedChromium();
  return { executablePath: packaged, source: '@sparticuz/chromium', env: { FONTCONFIG_FILE: join(dirname(packaged), FONTS_CONF) } };
}
