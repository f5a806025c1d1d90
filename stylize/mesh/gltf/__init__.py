"""glTF 2.0 in and out, with the scene's structure.

- :mod:`stylize.mesh.gltf.glb`: the GLB container: :class:`GlbBuilder`, the one writer of every
  GLB the toolkit makes, and :func:`read_glb`, its reader;
- :mod:`stylize.mesh.gltf.asset`: :class:`GltfAsset`, a ``.glb`` or ``.gltf`` file's buffers,
  accessors and images, decoded within :class:`GltfLimits`;
- :mod:`stylize.mesh.gltf.nodes`: the node hierarchy's local and world transforms;
- :mod:`stylize.mesh.gltf.scene`: :func:`read_scene`, every triangle primitive of every mesh
  instance in the world frame, and the :class:`SceneSource` to write it back;
- :mod:`stylize.mesh.gltf.write`: :func:`write_scene_glb`, the scene written back with its nodes,
  meshes, primitives and materials.
"""

from stylize.mesh.gltf.asset import GltfAsset, GltfLimits
from stylize.mesh.gltf.glb import GlbBuilder, glb_extras, read_glb
from stylize.mesh.gltf.scene import GltfScene, SceneSource, read_scene
from stylize.mesh.gltf.write import write_scene_glb

__all__ = [
    "GlbBuilder",
    "GltfAsset",
    "GltfLimits",
    "GltfScene",
    "SceneSource",
    "glb_extras",
    "read_glb",
    "read_scene",
    "write_scene_glb",
]
