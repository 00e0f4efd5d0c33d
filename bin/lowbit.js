#!/usr/bin/env node
// Entry point of the `lowbit` command: runs the compiled CLI (npm install builds dist/ via `prepare`).
import { main } from "../dist/cli.js";

process.exitCode = await main(process.argv);
