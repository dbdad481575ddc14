/**
 * Debian's `dig` (package bind9-dnsutils) against a DNS server on loopback, its answer
 * parsed: the status (NOERROR, NXDOMAIN, REFUSED…) and the records of the answer and
 * additional sections. A missing `dig` fails the test with how to install it.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DigResult {
  status: string;
  aa: boolean;
  answers: DigRecord[];
  additionals: DigRecord[];
  output: string;
}

function parseRecord(line: string): DigRecord {
  const [name, ttl, , type, ...data] = line.split(/\s+/);
  return { name: name!, ttl: Number(ttl), type: type!, data: data.join(" ") };
}

/** Asks the server at 127.0.0.1:port (or at `server`, an address such as a test host's). */
export async function dig(port: number, name: string, type = "A", extra: readonly string[] = [], server = "127.0.0.1"): Promise<DigResult> {
  let output: string;
  try {
    ({ stdout: output } = await run("dig", [`@${server}`, "-p", String(port), "+tries=1", "+time=2", ...extra, name, type], { timeout: 10_000 }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string };
    if (e.code === "ENOENT") throw new Error("dig is not installed: apt-get install -y bind9-dnsutils (or run deploy/setup-host.sh as root)");
    throw new Error(`dig ${name} ${type} failed: ${e.message}\n${e.stdout ?? ""}`);
  }
  const status = /status: ([A-Z]+)/.exec(output)?.[1] ?? "NONE";
  const flags = /;; flags: ([a-z ]+);/.exec(output)?.[1] ?? "";
  const section = (title: string): DigRecord[] => {
    const m = new RegExp(`;; ${title} SECTION:\\n([\\s\\S]*?)(\\n\\n|$)`).exec(output);
    return m ? m[1]!.split("\n").filter((l) => l.trim() !== "" && !l.startsWith(";")).map(parseRecord) : [];
  };
  return { status, aa: flags.split(" ").includes("aa"), answers: section("ANSWER"), additionals: section("ADDITIONAL"), output };
}
