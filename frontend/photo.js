// Turns the shopper's file into the photo we send: decoded, turned upright, at most 1280 px on its
// longest side, re-encoded as JPEG. Shrinking on the device keeps phone uploads small on slow networks,
// and re-encoding drops the file's metadata (a phone photo's GPS position never leaves the device).
// The boxes the API returns are fractions of this photo, so the page shows this very image under them.

const MAX_SIDE = 1280;
const JPEG_QUALITY = 0.9;

export class PhotoError extends Error {
  constructor(message) {
    super(message);
    this.name = "PhotoError";
  }
}

/** The size that fits `maxSide` on the longest side, never enlarging. */
function fitWithin(width, height, maxSide) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function notAPhoto(file) {
  return new PhotoError(`“${file.name}” is not a photo. Choose a JPEG, PNG or WebP image.`);
}

async function decode(file) {
  // A declared non-image type is refused before decoding; an empty type (some systems send none) is tried.
  if (file.type && !file.type.startsWith("image/")) throw notAPhoto(file);
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    throw new PhotoError(
      `“${file.name}” could not be opened as an image. It may be damaged or in a format this browser ` +
        "cannot read (such as HEIC): try a JPEG or PNG.",
    );
  }
}

function canvasToJpeg(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new PhotoError("The photo could not be prepared. Try another one."))),
      "image/jpeg",
      JPEG_QUALITY,
    );
  });
}

/**
 * Prepares `file` for a search. Resolves to `{blob, url, width, height}` (`url` shows the blob; release
 * it with `URL.revokeObjectURL` when the photo is replaced); rejects with a readable PhotoError.
 */
export async function preparePhoto(file) {
  const bitmap = await decode(file);
  try {
    const { width, height } = fitWithin(bitmap.width, bitmap.height, MAX_SIDE);
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff"; // JPEG has no transparency: a PNG's clear areas become white, not black.
    context.fillRect(0, 0, width, height);
    context.imageSmoothingQuality = "high";
    context.drawImage(bitmap, 0, 0, width, height);
    const blob = await canvasToJpeg(canvas);
    return { blob, url: URL.createObjectURL(blob), width, height };
  } finally {
    bitmap.close();
  }
}
