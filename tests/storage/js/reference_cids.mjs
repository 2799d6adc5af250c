// Test-only: prints the CIDs js-ipfs's UnixFS importer computes for the files named on the
// command line, as one JSON document {path: {v1_raw: cid, v0: cid}}.
import { createReadStream } from 'node:fs'
import { BlackHoleBlockstore } from 'blockstore-core/black-hole'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

async function rootCid (path, options) {
  let last
  for await (const entry of importer([{ content: createReadStream(path) }], new BlackHoleBlockstore(), options)) {
    last = entry
  }
  return last.cid.toString()
}

const out = {}
for (const path of process.argv.slice(2)) {
  out[path] = {
    v1_raw: await rootCid(path, {
      cidVersion: 1,
      rawLeaves: true,
      chunker: fixedSize({ chunkSize: 262144 }),
      layout: balanced({ maxChildrenPerNode: 174 })
    }),
    v0: await rootCid(path, { profile: 'unixfs-v0-2015' })
  }
}
process.stdout.write(JSON.stringify(out) + '\n')
