/**
 * `dcos-node certs init|issue|revoke|rotate|ticket-keys`: the cluster's PKI for mutual TLS.
 *   certs init  --dir=CA_DIR [--cluster=NAME]          a new cluster CA (ca.crt, ca.key)
 *   certs issue --ca-dir=CA_DIR --role=master|agent|principal --name=NAME --host=IP,DNS --out=DIR
 *               a certificate for one node or principal: DIR gets ca.crt, node.crt, node.key,
 *               which is what a node's --tls-dir reads.
 *   certs revoke --ca-dir=CA_DIR --cert=FILE|--serial=HEX   adds it to CA_DIR/crl.pem (nodes' --tls-crl)
 *   certs rotate --ca-dir=CA_DIR --tls-dir=DIR [--revoke-old]  a new certificate for the same identity
 *   certs ticket-keys --out=FILE                             TLS session ticket keys for --tls-ticket-keys
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { X509Certificate } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CERT_ROLES, type CertRole } from "../security/pki/node-identity.js";
import { certificateIdentity, NODE_CERT_FILE, writeNodeTls } from "../security/pki/tls-files.js";

/** The CA's code (@peculiar/x509, a tenth of a second to load) loads only when a certs command runs. */
const caFiles = () => import("../security/pki/ca-files.js");

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
      const { initAuthority } = await caFiles();
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
      const { loadAuthority } = await caFiles();
      const ca = await loadAuthority(o.caDir);
      const issued = await ca.issue({ role: o.role, name: o.name, hosts, validDays: o.days });
      await writeNodeTls(o.out, { ca: ca.pem.cert, cert: issued.cert, key: issued.key });
      write(`Issued ${o.role} '${o.name}' of cluster '${ca.cluster}'${hosts.length ? ` for ${hosts.join(", ")}` : ""} into ${o.out} (ca.crt, node.crt, node.key): start the node with --tls-dir=${o.out}`);
    });
  certs
    .command("revoke")
    .description("Revoke a certificate: adds it to the CA's CRL (<ca-dir>/crl.pem); nodes started with --tls-crl=<copy of it> refuse it within 5 s")
    .requiredOption("--ca-dir <dir>", "the CA's directory (from certs init)")
    .option("--cert <file>", "the certificate to revoke (PEM, e.g. a node's node.crt)")
    .option("--serial <hex>", "or its serial number")
    .action(async (o: { caDir: string; cert?: string; serial?: string }) => {
      if (Boolean(o.cert) === Boolean(o.serial)) throw new InvalidArgumentError("give exactly one of --cert and --serial");
      let serial = o.serial ?? "";
      let who: string | undefined;
      if (o.cert) {
        const pem = await readFile(o.cert, "utf8");
        const id = certificateIdentity(pem);
        serial = new X509Certificate(pem).serialNumber;
        who = `${id.role} '${id.name}'`;
      }
      const { CRL_FILE, revokeCertificate } = await caFiles();
      const entries = await revokeCertificate(o.caDir, serial, who);
      write(`Revoked ${who ?? "certificate"} (serial ${serial.toLowerCase()}); ${entries.length} revoked in all. Copy ${join(o.caDir, CRL_FILE)} to the file every master and agent reads with --tls-crl.`);
    });
  certs
    .command("rotate")
    .description("Issue a node a new certificate and key for the same identity and hosts, into its TLS directory (restart the node to use them)")
    .requiredOption("--ca-dir <dir>", "the CA's directory (from certs init)")
    .requiredOption("--tls-dir <dir>", "the node's TLS directory (ca.crt, node.crt, node.key)")
    .addOption(new Option("--days <n>", "validity in days").argParser(positiveDays).default(365))
    .option("--revoke-old", "also revoke the certificate being replaced", false)
    .action(async (o: { caDir: string; tlsDir: string; days: number; revokeOld: boolean }) => {
      const old = await readFile(join(o.tlsDir, NODE_CERT_FILE), "utf8");
      const id = certificateIdentity(old);
      const { CRL_FILE, loadAuthority, revokeCertificate } = await caFiles();
      const ca = await loadAuthority(o.caDir);
      if (id.cluster !== ca.cluster) throw new InvalidArgumentError(`${o.tlsDir} holds a certificate of cluster '${id.cluster}', not of this CA's '${ca.cluster}'`);
      const issued = await ca.issue({ role: id.role, name: id.name, hosts: id.hosts, validDays: o.days });
      await writeNodeTls(o.tlsDir, { ca: ca.pem.cert, cert: issued.cert, key: issued.key });
      if (o.revokeOld) await revokeCertificate(o.caDir, new X509Certificate(old).serialNumber, `${id.role} '${id.name}' (rotated)`);
      write(
        `Rotated ${id.role} '${id.name}' in ${o.tlsDir} (new serial ${new X509Certificate(issued.cert).serialNumber.toLowerCase()}). Restart the node to use it` +
          (o.revokeOld ? `; the old certificate is revoked: copy ${join(o.caDir, CRL_FILE)} to every node's --tls-crl.` : "."),
      );
    });
  certs
    .command("ticket-keys")
    .description("Write new TLS session ticket keys (give the same file to every master with --tls-ticket-keys)")
    .requiredOption("--out <file>", "where to write them (0600)")
    .action(async (o: { out: string }) => {
      const { newTicketKeys } = await import("../security/pki/tls-resumption.js");
      await writeFile(o.out, newTicketKeys(), { mode: 0o600 });
      write(`Wrote TLS session ticket keys to ${o.out}: start every master with --tls-ticket-keys=${o.out} (same content)`);
    });
  return certs;
}
