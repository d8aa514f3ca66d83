// fontkit 2.0.4 (pdfkit's font engine) ships no types. Only what pdf-report.ts uses: fontkit's
// `create(buffer, postscriptName?)` (fontkit src/base.js) returns a parsed font, which pdfkit's
// PDFFontFactory.open accepts in place of a path when it has a `layout` method.
declare module "fontkit" {
  export interface Font {
    readonly postscriptName: string;
    layout(text: string): unknown;
  }
  export function create(buffer: Uint8Array, postscriptName?: string): Font;
}
