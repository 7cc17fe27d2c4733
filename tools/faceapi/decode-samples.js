// Decodes face-api's demo photos (node_modules/@vladmandic/face-api/demo/sample1..6.jpg) with jpeg-js into lossless
// PNGs under tools/faceapi/samples/ (git-ignored), so the C# tests and reference.js see identical pixels (JPEG decoders
// differ by a level here and there). Idempotent; .ci/setup runs it. Usage: node decode-samples.js
'use strict';
const fs = require('fs');
const path = require('path');
const { PNG } = require('pngjs');
const jpeg = require('jpeg-js');

const demo = path.join(__dirname, 'node_modules', '@vladmandic', 'face-api', 'demo');
const out = path.join(__dirname, 'samples');
fs.mkdirSync(out, { recursive: true });
for (let i = 1; i <= 6; i++) {
  const target = path.join(out, `sample${i}.png`);
  if (fs.existsSync(target)) continue;
  const { width, height, data } = jpeg.decode(fs.readFileSync(path.join(demo, `sample${i}.jpg`)), { useTArray: true, formatAsRGBA: true });
  const png = new PNG({ width, height, colorType: 2 });
  data.forEach((v, j) => { png.data[j] = (j % 4 === 3) ? 255 : v; });
  fs.writeFileSync(`${target}.tmp`, PNG.sync.write(png, { colorType: 2 }));
  fs.renameSync(`${target}.tmp`, target);
  console.log(`wrote ${target} (${width}x${height})`);
}
