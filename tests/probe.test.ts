import { afterAll, describe, expect, it } from "vitest";
import { awkVariants } from "./support/probeAwks";
import { inspectBody as inspectWith } from "./support/probeFunctions";

const awks = awkVariants();
afterAll(() => awks.remove());

describe.each(awks.variants)("the probe's embedded JSON reader with $name", ({ pathPrefix }) => {
  const inspectBody = (body: string | Buffer, want: string[] = []) => inspectWith(body, want, pathPrefix);

  const VALID_BODIES = [
    '{"a":1}',
    ' {\n "id" : "/subscriptions/x" ,\t"tags":{}, "n":[1,-2.5e+3,0,true,false,null] }\r\n',
    '"just a string"',
    "42",
    "[]",
    '{"s":"esc \\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00"}',
    '{"utf8":"é ü 漢 😀"}',
    '{"del":"\u007f"}',
  ];
  it.each(VALID_BODIES)("carries valid JSON %j as the same value, compacted to one line", (body) => {
    const seen = inspectBody(body);
    expect(seen.isJson).toBe(true);
    expect(seen.carried).not.toContain("\n");
    expect(JSON.parse(seen.carried)).toEqual(JSON.parse(body));
  });

  const INVALID_BODIES = [
    "",
    "<html><body>502 Bad Gateway</body></html>\n",
    '{"a":1',
    '{"a":1}}',
    "{'a':1}",
    '{"a":01}',
    '{"a":1.}',
    '{"a":"tab\there"}',
    '{"a":"bad \\x escape"}',
    '{"a":"\\u12"}',
    "[1,]",
    '{"a" 1}',
    "nul",
    "tru",
    '{"a":1} trailing',
    `${"[".repeat(70)}${"]".repeat(70)}`,
  ];
  it.each(INVALID_BODIES)("carries %j, which is not JSON, as the exact text in a JSON string", (body) => {
    const seen = inspectBody(body);
    expect(seen.isJson).toBe(false);
    expect(JSON.parse(seen.carried)).toBe(body);
  });

  it("rejects bytes that are not UTF-8 and escapes every byte outside 0x20-0x7E as \\u00XX", () => {
    const body = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28, 0x01, 0x7f]), Buffer.from('"}')]);
    const seen = inspectBody(body);
    expect(seen.isJson).toBe(false);
    expect(seen.carried).toBe('"{\\"a\\":\\"\\u00c3(\\u0001\\u007f\\"}"');
  });

  it("truncates a long text body to 4096 bytes with a marker saying so", () => {
    const body = `${"A".repeat(5000)}<`;
    const seen = inspectBody(body);
    expect(JSON.parse(seen.carried)).toBe(`${"A".repeat(4096)}...[truncated: first 4096 of 5001 bytes]`);
  });

  it("extracts values by path, raw for re-embedding and decoded, and says which are missing", () => {
    const body =
      '{"error":{"code":"AuthorizationFailed","message":"The client \\"x\\" \\u00e9"},"n":[10,{"k":2}],"t":true}';
    const seen = inspectBody(body, ["error.code", "error.message", "n.1.k", "n", "t", "error.nope"]);
    expect(seen.fields).toEqual([
      { type: "string", raw: '"AuthorizationFailed"', decoded: "AuthorizationFailed" },
      { type: "string", raw: '"The client \\"x\\" \\u00e9"', decoded: 'The client "x" é' },
      { type: "number", raw: "2", decoded: "" },
      { type: "array", raw: "", decoded: "" },
      { type: "boolean", raw: "true", decoded: "" },
      { type: "missing", raw: "", decoded: "" },
    ]);
  });

  it("reports no fields of a body that is not JSON, even when it looks like it has them", () => {
    const seen = inspectBody('{"error":{"code":"AuthorizationFailed"}', ["error.code"]);
    expect(seen.fields).toEqual([{ type: "missing", raw: "", decoded: "" }]);
  });
});
