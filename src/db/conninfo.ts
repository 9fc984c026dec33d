/**
 * libpq connection strings, as found in `primary_conninfo`: either
 * `key=value key='quoted value'` pairs or a `postgresql://` URI. Re-pointing a
 * replica at a new primary keeps every keyword it had (user, password, sslmode,
 * application_name...) and replaces only where to connect.
 */
export type Conninfo = Map<string, string>;

/** Parses a conninfo string; malformed input gives what could be read, never a throw. */
export function parseConninfo(text: string): Conninfo {
  const result: Conninfo = new Map();
  if (/^postgres(ql)?:\/\//.test(text)) {
    try {
      const url = new URL(text);
      if (url.hostname) result.set('host', decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, '$1'));
      if (url.port) result.set('port', url.port);
      if (url.username) result.set('user', decodeURIComponent(url.username));
      if (url.password) result.set('password', decodeURIComponent(url.password));
      const dbname = decodeURIComponent(url.pathname.replace(/^\//, ''));
      if (dbname) result.set('dbname', dbname);
      for (const [key, value] of url.searchParams) result.set(key, value);
    } catch {
      // An unreadable URI leaves an empty map; the caller fills in what it knows.
    }
    return result;
  }
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
    const keyStart = i;
    while (i < text.length && /[A-Za-z0-9_]/.test(text[i] as string)) i++;
    const key = text.slice(keyStart, i);
    while (i < text.length && /\s/.test(text[i] as string)) i++;
    if (!key || text[i] !== '=') break;
    i++;
    while (i < text.length && /\s/.test(text[i] as string)) i++;
    let value = '';
    if (text[i] === "'") {
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      i++;
    } else {
      while (i < text.length && !/\s/.test(text[i] as string)) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
    }
    result.set(key, value);
  }
  return result;
}

/** Formats keywords as `key='value'` pairs, quoting every value. */
export function formatConninfo(info: Conninfo): string {
  return [...info].map(([key, value]) => `${key}='${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(' ');
}
