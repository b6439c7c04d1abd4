export { type ClusterFile, readClusterFile } from './cluster-command.js'
export { main, USAGE } from './main.js'
