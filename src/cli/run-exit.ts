/** The exit codes of `dcos-node run` (defined beside the run service, which reports them too). */
export { RunExit } from "../frameworks/run/run-exit.js";
