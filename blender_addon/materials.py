"""Show stylize results through an object's own materials, and take them out again.

Nothing of the user's node tree is removed or replaced. :func:`hook_material` adds nodes named
``Stylize ...`` in front of the shader (the Principled BSDF the output uses, else the first node
with a Base Color input): a Mix node into Base Color whose A input takes over what was linked
there (or its value) and whose B input is the result (the colour attribute, or the base-colour
texture on the ``Stylize UV`` map); with a normal map, an Image Texture into a Normal Map node
mixed into Normal the same way. The mix factor is the float attribute ``Stylize Mask`` (1 on an
object with a result; an object without it reads 0), so other objects that share the material
keep their look. What was linked before is recorded on the material (custom property
``stylize_hook``, JSON) and :func:`unhook_material` puts it back exactly.
"""

from __future__ import annotations

import json

import bpy

HOOK_RECORD = "stylize_hook"
MASK_ATTRIBUTE = "Stylize Mask"
NODE_PREFIX = "Stylize "


def _socket(sockets, identifier: str):
    return next(socket for socket in sockets if socket.identifier == identifier)


def find_shader(material: bpy.types.Material):
    """The node whose Base Color the result goes into, or None."""
    tree = material.node_tree
    if tree is None:
        return None
    output = tree.get_output_node("ALL")
    if output is not None and output.inputs["Surface"].is_linked:
        node = output.inputs["Surface"].links[0].from_node
        if node.inputs.get("Base Color") is not None:
            return node
    return next(
        (node for node in tree.nodes if node.inputs.get("Base Color") is not None and not node.name.startswith(NODE_PREFIX)), None
    )


def is_hooked(material: bpy.types.Material | None) -> bool:
    return material is not None and HOOK_RECORD in material.keys()


def _record_input(socket) -> dict:
    link = socket.links[0] if socket.is_linked else None
    value = socket.default_value
    return {
        "link": [link.from_node.name, link.from_socket.identifier] if link is not None else None,
        "default": list(value) if hasattr(value, "__len__") else value,
    }


def hook_material(
    material: bpy.types.Material,
    color_attribute: str,
    base_image: bpy.types.Image | None = None,
    normal_image: bpy.types.Image | None = None,
    uv_map: str = "",
    packed_image: bpy.types.Image | None = None,
) -> bool:
    """Route ``material``'s Base Color (and Normal; with ``packed_image``, glTF's packed
    metallic-roughness map, Roughness from its G and Metallic from its B through a Separate
    Color node) through the result; False when it has no shader with a Base Color (the colour
    attribute is then only in the mesh).

    Hooking a hooked material replaces the earlier hook (the record of the user's own links stays
    the one taken before the first).
    """
    record = unhook_material(material)
    shader = find_shader(material)
    if shader is None:
        return False
    tree = material.node_tree
    nodes, links = tree.nodes, tree.links
    active = nodes.active
    base_input = shader.inputs["Base Color"]
    inputs = record["inputs"] if record else {"Base Color": _record_input(base_input)}
    added = []

    def add(kind: str, name: str, x: float, y: float):
        node = nodes.new(kind)
        node.name = node.label = NODE_PREFIX + name
        node.location = (shader.location.x + x, shader.location.y + y)
        node.select = False
        added.append(node.name)
        return node

    mask = add("ShaderNodeAttribute", "Mask", -700, 250)
    mask.attribute_type, mask.attribute_name = "GEOMETRY", MASK_ATTRIBUTE
    mix = add("ShaderNodeMix", "Mix Color", -250, 150)
    mix.data_type, mix.blend_type = "RGBA", "MIX"
    links.new(mask.outputs["Fac"], _socket(mix.inputs, "Factor_Float"))
    user = inputs["Base Color"]
    if user["link"]:
        links.new(_socket(nodes[user["link"][0]].outputs, user["link"][1]), _socket(mix.inputs, "A_Color"))
    else:
        _socket(mix.inputs, "A_Color").default_value = user["default"]
    uv = None
    if (base_image is not None or normal_image is not None or packed_image is not None) and uv_map:
        uv = add("ShaderNodeUVMap", "UV", -1000, -100)
        uv.uv_map = uv_map
    if base_image is not None:
        texture = add("ShaderNodeTexImage", "Base Color", -700, 0)
        texture.image = base_image
        if uv is not None:
            links.new(uv.outputs["UV"], texture.inputs["Vector"])
        links.new(texture.outputs["Color"], _socket(mix.inputs, "B_Color"))
    else:
        color = add("ShaderNodeAttribute", "Color", -700, 100)
        color.attribute_type, color.attribute_name = "GEOMETRY", color_attribute
        links.new(color.outputs["Color"], _socket(mix.inputs, "B_Color"))
    links.new(_socket(mix.outputs, "Result_Color"), base_input)

    normal_input = shader.inputs.get("Normal")
    if normal_image is not None and normal_input is not None:
        inputs.setdefault("Normal", _record_input(normal_input))
        texture = add("ShaderNodeTexImage", "Normal Image", -700, -300)
        texture.image = normal_image
        texture.interpolation = "Linear"
        if uv is not None:
            links.new(uv.outputs["UV"], texture.inputs["Vector"])
        normal_map = add("ShaderNodeNormalMap", "Normal Map", -450, -300)
        normal_map.space, normal_map.uv_map = "TANGENT", uv_map
        links.new(texture.outputs["Color"], normal_map.inputs["Color"])
        mix_normal = add("ShaderNodeMix", "Mix Normal", -250, -250)
        mix_normal.data_type = "VECTOR"
        links.new(mask.outputs["Fac"], _socket(mix_normal.inputs, "Factor_Float"))
        user = inputs["Normal"]
        if user["link"]:
            source = _socket(nodes[user["link"][0]].outputs, user["link"][1])
        else:  # an unlinked Normal is the shading normal
            source = add("ShaderNodeNewGeometry", "Geometry", -450, -550).outputs["Normal"]
        links.new(source, _socket(mix_normal.inputs, "A_Vector"))
        links.new(normal_map.outputs["Normal"], _socket(mix_normal.inputs, "B_Vector"))
        links.new(_socket(mix_normal.outputs, "Result_Vector"), normal_input)
    if packed_image is not None:
        _hook_packed(shader, packed_image, uv, mask, inputs, add, links, nodes)
    nodes.active = active
    material[HOOK_RECORD] = json.dumps({"shader": shader.name, "nodes": added, "inputs": inputs})
    return True


def _hook_packed(shader, image, uv, mask, inputs: dict, add, links, nodes) -> None:
    """The packed metallic-roughness map (Non-Color) into Roughness (G) and Metallic (B), each
    mixed with what the input had by the mask, as Base Color is."""
    texture = add("ShaderNodeTexImage", "Metallic Roughness", -1000, -700)
    texture.image = image
    if uv is not None:
        links.new(uv.outputs["UV"], texture.inputs["Vector"])
    separate = add("ShaderNodeSeparateColor", "Separate Metallic Roughness", -700, -700)
    separate.mode = "RGB"
    links.new(texture.outputs["Color"], separate.inputs["Color"])
    for offset, (name, channel) in enumerate((("Roughness", "Green"), ("Metallic", "Blue"))):
        target = shader.inputs.get(name)
        if target is None:
            continue
        inputs.setdefault(name, _record_input(target))
        mix = add("ShaderNodeMix", f"Mix {name}", -450, -650 - 200 * offset)
        mix.data_type = "FLOAT"
        links.new(mask.outputs["Fac"], _socket(mix.inputs, "Factor_Float"))
        user = inputs[name]
        if user["link"]:
            links.new(_socket(nodes[user["link"][0]].outputs, user["link"][1]), _socket(mix.inputs, "A_Float"))
        else:
            _socket(mix.inputs, "A_Float").default_value = user["default"]
        links.new(separate.outputs[channel], _socket(mix.inputs, "B_Float"))
        links.new(_socket(mix.outputs, "Result_Float"), target)


def unhook_material(material: bpy.types.Material) -> dict | None:
    """Remove the hook: the nodes it added go, the shader's inputs get back their links and
    values. Returns the record it removed (None: the material was not hooked)."""
    if not is_hooked(material):
        return None
    record = json.loads(material[HOOK_RECORD])
    tree = material.node_tree
    nodes, links = tree.nodes, tree.links
    active = nodes.active.name if nodes.active is not None else None
    for name in record["nodes"]:
        node = nodes.get(name)
        if node is not None:
            nodes.remove(node)
    shader = nodes.get(record["shader"])
    if shader is not None:
        for name, saved in record["inputs"].items():
            socket = shader.inputs.get(name)
            if socket is None:
                continue
            for link in list(socket.links):
                links.remove(link)
            if saved["link"] and saved["link"][0] in nodes:
                links.new(_socket(nodes[saved["link"][0]].outputs, saved["link"][1]), socket)
            if hasattr(socket, "default_value") and saved["default"] is not None:
                socket.default_value = saved["default"]
    if active is not None and active in nodes:
        nodes.active = nodes[active]
    del material[HOOK_RECORD]
    return record


def new_material(name: str) -> bpy.types.Material:
    """A fresh material with a Principled BSDF (for objects that have none)."""
    material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True  # always on (and deprecated) from Blender 5.0
    if find_shader(material) is None:
        shader = material.node_tree.nodes.new("ShaderNodeBsdfPrincipled")
        output = material.node_tree.get_output_node("ALL") or material.node_tree.nodes.new("ShaderNodeOutputMaterial")
        material.node_tree.links.new(shader.outputs["BSDF"], output.inputs["Surface"])
    return material


def preview_material(name: str, color_attribute: str) -> bpy.types.Material:
    """The live preview's material: the colour attribute into a Principled BSDF's Base Color
    (one material for the session, made again if it is gone)."""
    material = bpy.data.materials.get(name)
    if material is not None:
        return material
    material = new_material(name)
    shader = find_shader(material)
    color = material.node_tree.nodes.new("ShaderNodeAttribute")
    color.attribute_type, color.attribute_name = "GEOMETRY", color_attribute
    color.location = (shader.location.x - 300, shader.location.y)
    material.node_tree.links.new(color.outputs["Color"], shader.inputs["Base Color"])
    return material
