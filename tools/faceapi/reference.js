// face-api reference outputs for the TrgIlgpu tests (docs/face-finding.md, "Reference runner and fixtures").
// Runs the pinned @vladmandic/face-api on TF.js's pure-JS CPU backend over the fixture images and writes one JSON per
// image: the detections (+ 68 landmarks) of each detector setting, and the raw outputs that check a network alone.
// Usage: node reference.js OUT_DIR IMAGE... (PNG or JPEG). JPEGs are decoded with jpeg-js; every fixture records the
// sha256 of the RGB pixels the nets saw, and the C# tests verify it against their own decode before comparing.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { PNG } = require('pngjs');
const jpeg = require('jpeg-js');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const tf = faceapi.tf;

const MODEL_DIR = path.join(__dirname, '..', '..', 'weights', 'faceapi');
const SSD_SETTINGS = [{ minConfidence: 0.5, maxResults: 100 }];
const TINY_SETTINGS = [{ inputSize: 416, scoreThreshold: 0.5 }, { inputSize: 608, scoreThreshold: 0.5 }];
const SSD_TOP_K = 32;          // raw SSD boxes/scores kept per image (highest scores)
const TINY_GRID_IMAGES = new Set(['astronaut', 'sample1']); // images whose whole tiny 416 output grid is recorded

function loadNet(net, name) {
  const manifest = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, `${name}-weights_manifest.json`), 'utf8'));
  const specs = manifest.flatMap((group) => group.weights);
  const bytes = Buffer.concat(manifest.flatMap((group) => group.paths).map((p) => fs.readFileSync(path.join(MODEL_DIR, p))));
  const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  net.loadFromWeightMap(tf.io.decodeWeights(data, specs));
}

function readRgb(file) {
  const bytes = fs.readFileSync(file);
  let width, height, rgba;
  if (/\.png$/i.test(file)) ({ width, height, data: rgba } = PNG.sync.read(bytes));
  else ({ width, height, data: rgba } = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true }));
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgba[i * 4 + c];
  return { width, height, rgb };
}

const round = (v) => Number(v.toPrecision(7));
const box = (b) => [b.left, b.top, b.right, b.bottom].map(round);

async function detections(img, options) {
  const results = await faceapi.detectAllFaces(img, options).withFaceLandmarks();
  const faces = [];
  for (const r of results) {
    const [crop] = await faceapi.extractFaceTensors(img, [r.detection]);
    const face = { box: box(r.detection.box), score: round(r.detection.score), crop: null, landmarks: null, landmark_raw: null };
    if (crop) { // an empty clipped box has no crop, and face-api no landmarks for it
      const raw = faceapi.nets.faceLandmark68Net.runNet(await faceapi.toNetInput(crop));
      face.crop = [crop.shape[1], crop.shape[0]];
      face.landmarks = r.landmarks.positions.map((p) => [round(p.x), round(p.y)]);
      face.landmark_raw = Array.from(raw.dataSync(), round);
      raw.dispose(); crop.dispose();
    }
    faces.push(face);
  }
  return faces;
}

async function ssdRaw(img) {
  const input = await faceapi.toNetInput(img);
  const { boxes, scores } = faceapi.nets.ssdMobilenetv1.forwardInput(input);
  const b = boxes[0].arraySync();
  const s = Array.from(scores[0].dataSync());
  boxes.forEach((t) => t.dispose()); scores.forEach((t) => t.dispose());
  const top = s.map((score, index) => ({ score, index })).sort((x, y) => y.score - x.score).slice(0, SSD_TOP_K);
  return top.map(({ score, index }) => ({ index, score: round(score), box: b[index].map(round) }));
}

async function tinyGrid(img, inputSize) {
  const input = await faceapi.toNetInput(img);
  const out = faceapi.nets.tinyFaceDetector.forwardInput(input, inputSize);
  const result = { input_size: inputSize, shape: out.shape, values: Array.from(out.dataSync(), round) };
  out.dispose();
  return result;
}

async function main() {
  const [outDir, ...images] = process.argv.slice(2);
  if (!outDir || images.length === 0) throw new Error('usage: node reference.js OUT_DIR IMAGE...');
  await tf.setBackend('cpu');
  await tf.ready();
  loadNet(faceapi.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model');
  loadNet(faceapi.nets.tinyFaceDetector, 'tiny_face_detector_model');
  loadNet(faceapi.nets.faceLandmark68Net, 'face_landmark_68_model');
  fs.mkdirSync(outDir, { recursive: true });
  for (const file of images) {
    const name = path.basename(file).replace(/\.[^.]+$/, '');
    const { width, height, rgb } = readRgb(file);
    const img = tf.tensor3d(Int32Array.from(rgb), [height, width, 3], 'int32');
    const fixture = {
      image: path.basename(file),
      width,
      height,
      rgb_sha256: crypto.createHash('sha256').update(rgb).digest('hex'),
      generator: `tools/faceapi/reference.js, @vladmandic/face-api ${require('@vladmandic/face-api/package.json').version}, tfjs ${tf.version.tfjs} cpu backend`,
      ssd: [],
      tiny: [],
    };
    for (const s of SSD_SETTINGS) {
      fixture.ssd.push({ ...s, faces: await detections(img, new faceapi.SsdMobilenetv1Options(s)) });
    }
    for (const s of TINY_SETTINGS) {
      fixture.tiny.push({ ...s, faces: await detections(img, new faceapi.TinyFaceDetectorOptions(s)) });
    }
    fixture.ssd_raw_top = await ssdRaw(img);
    if (TINY_GRID_IMAGES.has(name)) fixture.tiny_grid = await tinyGrid(img, 416);
    img.dispose();
    fs.writeFileSync(path.join(outDir, `${name}.json`), `${JSON.stringify(fixture)}\n`);
    const counts = [...fixture.ssd, ...fixture.tiny].map((d) => d.faces.length).join(' / ');
    console.log(`${name}: ${width}x${height}, faces ssd / tiny416 / tiny608 = ${counts}`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
