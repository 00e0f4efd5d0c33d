// Hugging Face `tokenizers` JSON (tokenizer.json) and tokenizer_config.json for a byte-level BPE built from
// vocab.json + merges.txt, as transformers writes them for GPT-2 and BART: what transformers.js and
// transformers load from a Hugging Face folder (hf_folder.ts). Not a tokenizer: ours is
// src/runtime/tokenizer.ts; this only describes the same files in Hugging Face's other format.
//
//   GPT-2: ByteLevel pre-tokenizer and decoder, no wrapping; <|endoftext|> an added special token.
//   BART:  the same BPE, wrapped by RobertaProcessing as <s> … </s>; <s> <pad> </s> <unk> <mask> added
//          special tokens, <mask> with lstrip (it absorbs the space before it, as RoBERTa's does).

import { LowbitError } from "../errors.js";
import { parseBpeFiles, type BpeFiles } from "../format/bpe_files.js";
import type { TokenizerFiles } from "./checkpoint.js";

export type TokenizerFamily = "gpt2" | "bart";

interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

function parse(files: TokenizerFiles, family: TokenizerFamily): BpeFiles {
  const bpe = parseBpeFiles(files.vocab, files.merges, { vocab: `${files.source}: vocab.json`, merges: `${files.source}: merges.txt` });
  if (bpe.layout !== family) {
    throw new LowbitError(`a ${family} model needs a ${family}-style vocabulary`, {
      file: `${files.source}: vocab.json`,
      expected: family === "bart" ? "<s>, <pad>, </s> and <unk> in vocab.json" : "no BART special tokens",
      found: `a ${bpe.layout}-style vocabulary`,
    });
  }
  return bpe;
}

/** merges.txt's pairs in rank order, as tokenizers ≥ 0.20 writes them: [["Ġ", "t"], …]. */
function mergePairs(mergesTxt: string): [string, string][] {
  const pairs: [string, string][] = [];
  const lines = mergesTxt.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    if (line === "" || (i === 0 && line.startsWith("#version"))) continue;
    const space = line.indexOf(" "); // parseBpeFiles has checked: exactly one space, inside the line
    pairs.push([line.slice(0, space), line.slice(space + 1)]);
  }
  return pairs;
}

/** tokenizer.json's text (2-space indented, as tokenizers saves it). */
export function tokenizerJson(files: TokenizerFiles, family: TokenizerFamily): string {
  const bpe = parse(files, family);
  const added: AddedToken[] = [...bpe.specialTokens]
    .sort((a, b) => a[1] - b[1])
    .map(([content, id]) => ({
      id, content, single_word: false, lstrip: family === "bart" && content === "<mask>", rstrip: false,
      normalized: false, special: true,
    }));
  const vocab = Object.fromEntries([...bpe.vocab].sort((a, b) => a[1] - b[1]));
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const postProcessor = family === "bart"
    ? { type: "RobertaProcessing", sep: ["</s>", bpe.eosTokenId], cls: ["<s>", bpe.bosTokenId], trim_offsets: true, add_prefix_space: false }
    : { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true };
  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: postProcessor,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: mergePairs(files.merges),
    },
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

/** tokenizer_config.json: the tokenizer class, its special tokens and the model's context length. */
export function tokenizerConfigJson(files: TokenizerFiles, family: TokenizerFamily, modelMaxLength: number): string {
  const bpe = parse(files, family);
  const tokenOf = (id: number | undefined): string | null => {
    if (id === undefined) return null;
    for (const [token, tid] of bpe.specialTokens) if (tid === id) return token;
    return null;
  };
  const addedTokensDecoder = Object.fromEntries([...bpe.specialTokens].sort((a, b) => a[1] - b[1]).map(([content, id]) => [
    String(id), { content, single_word: false, lstrip: family === "bart" && content === "<mask>", rstrip: false, normalized: false, special: true },
  ]));
  const json = family === "gpt2"
    ? {
      tokenizer_class: "GPT2Tokenizer",
      add_prefix_space: false,
      add_bos_token: false,
      bos_token: tokenOf(bpe.bosTokenId),
      eos_token: tokenOf(bpe.eosTokenId),
      unk_token: tokenOf(bpe.unkTokenId),
      clean_up_tokenization_spaces: false,
      errors: "replace",
      model_max_length: modelMaxLength,
      added_tokens_decoder: addedTokensDecoder,
    }
    : {
      tokenizer_class: "BartTokenizer",
      add_prefix_space: false,
      bos_token: tokenOf(bpe.bosTokenId),
      eos_token: tokenOf(bpe.eosTokenId),
      sep_token: tokenOf(bpe.eosTokenId),
      cls_token: tokenOf(bpe.bosTokenId),
      unk_token: tokenOf(bpe.unkTokenId),
      pad_token: tokenOf(bpe.padTokenId),
      mask_token: tokenOf(bpe.maskTokenId),
      clean_up_tokenization_spaces: false,
      errors: "replace",
      trim_offsets: true,
      model_max_length: modelMaxLength,
      added_tokens_decoder: addedTokensDecoder,
    };
  return `${JSON.stringify(json, null, 2)}\n`;
}
