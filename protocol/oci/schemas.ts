/**
 * OCI image spec v1.1 structures as TypeBox schemas. Unknown fields are
 * allowed because the spec requires consumers to ignore them ("Extensibility");
 * every field we read is typed and bounded.
 */
import { Type, type Static } from 'typebox';
import { DIGEST_SCHEMA_PATTERN } from '../digest.js';
import { MEDIA_TYPE_SCHEMA_PATTERN } from './media-types.js';

/** JavaScript can count bytes exactly up to 2^53 - 1; OCI sizes are int64. */
const SIZE_MAX = Number.MAX_SAFE_INTEGER;

export const DigestSchema = Type.String({ pattern: DIGEST_SCHEMA_PATTERN, description: 'sha256:<64 hex> or sha512:<128 hex>' });
export const MediaTypeSchema = Type.String({ pattern: MEDIA_TYPE_SCHEMA_PATTERN, maxLength: 255 });
export const SizeSchema = Type.Integer({ minimum: 0, maximum: SIZE_MAX });
export const AnnotationsSchema = Type.Record(Type.String({ maxLength: 1024 }), Type.String({ maxLength: 65_536 }));

export const PlatformSchema = Type.Object({
  architecture: Type.String({ maxLength: 64 }),
  os: Type.String({ maxLength: 64 }),
  'os.version': Type.Optional(Type.String({ maxLength: 256 })),
  'os.features': Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 64 })),
  variant: Type.Optional(Type.String({ maxLength: 64 })),
});

export const DescriptorSchema = Type.Object({
  mediaType: MediaTypeSchema,
  digest: DigestSchema,
  size: SizeSchema,
  urls: Type.Optional(Type.Array(Type.String({ maxLength: 2048 }), { maxItems: 16 })),
  annotations: Type.Optional(AnnotationsSchema),
  data: Type.Optional(Type.String({ maxLength: 1_048_576 })),
  artifactType: Type.Optional(MediaTypeSchema),
  platform: Type.Optional(PlatformSchema),
});
export type Descriptor = Static<typeof DescriptorSchema>;

/** Generous for bootable images (bootc images have tens of layers), small enough to bound work. */
export const MAX_LAYERS = 1024;

export const ImageManifestSchema = Type.Object({
  schemaVersion: Type.Literal(2),
  mediaType: Type.Optional(MediaTypeSchema),
  artifactType: Type.Optional(MediaTypeSchema),
  config: DescriptorSchema,
  layers: Type.Array(DescriptorSchema, { maxItems: MAX_LAYERS }),
  subject: Type.Optional(DescriptorSchema),
  annotations: Type.Optional(AnnotationsSchema),
});
export type ImageManifest = Static<typeof ImageManifestSchema>;

export const ImageIndexSchema = Type.Object({
  schemaVersion: Type.Literal(2),
  mediaType: Type.Optional(MediaTypeSchema),
  artifactType: Type.Optional(MediaTypeSchema),
  manifests: Type.Array(DescriptorSchema, { maxItems: 4096 }),
  subject: Type.Optional(DescriptorSchema),
  annotations: Type.Optional(AnnotationsSchema),
});
export type ImageIndex = Static<typeof ImageIndexSchema>;

export const ImageConfigSchema = Type.Object({
  created: Type.Optional(Type.String({ maxLength: 64 })),
  author: Type.Optional(Type.String({ maxLength: 1024 })),
  architecture: Type.String({ maxLength: 64 }),
  os: Type.String({ maxLength: 64 }),
  'os.version': Type.Optional(Type.String({ maxLength: 256 })),
  variant: Type.Optional(Type.String({ maxLength: 64 })),
  config: Type.Optional(
    Type.Object({
      Labels: Type.Optional(Type.Union([AnnotationsSchema, Type.Null()])),
    }),
  ),
  rootfs: Type.Object({
    type: Type.Literal('layers'),
    diff_ids: Type.Array(DigestSchema, { maxItems: MAX_LAYERS }),
  }),
  history: Type.Optional(Type.Array(Type.Object({}), { maxItems: 4096 })),
});
export type ImageConfig = Static<typeof ImageConfigSchema>;
