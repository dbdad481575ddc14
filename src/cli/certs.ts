/**
 * `dcos-node certs init|issue`: the cluster's PKI for mutual TLS.
 *   certs init  --dir=CA_DIR [--cluster=NAME]          a new cluster CA (ca.crt, ca.key)
 *   certs issue --ca-dir=CA_DIR --role=master|agent|principal --name=NAME --host=IP,DNS --out=DIR
 *               a certificate for one node or principal: DIR gets ca.crt, node.crt, node.key,
 *               which is what a node's --tls-dir reads.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { initAuthority, loadAuthority } from "../security/pki/ca-files.js";
import { CERT_ROLES, type CertRole } from "../security/pki/node-identity.js";
import { writeNodeTls } from "../security/pki/tls-files.js";

function positiveDays(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 36500) throw new InvalidArgumentError(`--days must be a whole number of days from 1 to 36500, not '${text}'`);
  return n;
}

export function certsSubcommand(write: (line: string) => void = (l) => process.stdout.write(l + "\n")): Command {
  const certs = new Command("certs").description("The cluster's certificate authority and node certificates (mutual TLS between nodes)");
  certs
    .command("init")
    .description("Create the cluster CA in a directory (ca.crt, ca.key); keep ca.key off the nodes")
    .requiredOption("--dir <dir>", "where to write the CA")
    .option("--cluster <name>", "the cluster's name (in every identity the CA issues)", "dcos")
    .addOption(new Option("--days <n>", "validity in days").argParser(positiveDays).default(3650))
    .option("--force", "replace an existing CA (certificates it issued stop being trusted)", false)
    .action(async (o: { dir: string; cluster: string; days: number; force: boolean }) => {
      await initAuthority(o.dir, o.cluster, { force: o.force, validDays: o.days });
      write(`Created the CA of cluster '${o.cluster}' in ${o.dir} (ca.crt, ca.key). Next: dcos-node certs issue --ca-dir=${o.dir} --role=master --name=<name> --host=<ip> --out=<dir>`);
    });
  certs
    .command("issue")
    .description("Issue a certificate for a master, an agent or a principal (framework/operator) into a TLS directory")
    .requiredOption("--ca-dir <dir>", "the CA's directory (from certs init)")
    .addOption(new Option("--role <role>", "what the holder is").choices([...CERT_ROLES]).makeOptionMandatory())
    .requiredOption("--name <name>", "the holder's name (node name or principal)")
    .option("--host <list>", "IP addresses and DNS names the holder listens on, comma-separated (nodes: the --ip they advertise)", "")
    .requiredOption("--out <dir>", "where to write ca.crt, node.crt and node.key (a node's --tls-dir)")
    .addOption(new Option("--days <n>", "validity in days").argParser(positiveDays).default(365))
    .action(async (o: { caDir: string; role: CertRole; name: string; host: string; out: string; days: number }) => {
      const hosts = o.host.split(",").map((h) => h.trim()).filter((h) => h !== "");
      if (o.role !== "principal" && hosts.length === 0) {
        throw new InvalidArgumentError(`a ${o.role} certificate needs --host: the address(es) the node advertises with --ip`);
      }
      const ca = await loadAuthority(o.caDir);
      const issued = await ca.issue({ role: o.role, name: o.name, hosts, validDays: o.days });
      await writeNodeTls(o.out, { ca: ca.pem.cert, cert: issued.cert, key: issued.key });
      write(`Issued ${o.role} '${o.name}' of cluster '${ca.cluster}'${hosts.length ? ` for ${hosts.join(", ")}` : ""} into ${o.out} (ca.crt, node.crt, node.key): start the node with --tls-dir=${o.out}`);
    });
  return certs;
}
